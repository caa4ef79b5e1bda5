module gortbench/burst

go 1.22
