module gortbench/alloc

go 1.22
