module gortbench/pingpong

go 1.22
