module gortbench/mutex

go 1.22
