module gortbench/spawn

go 1.22
