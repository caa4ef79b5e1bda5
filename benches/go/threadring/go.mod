module gortbench/threadring

go 1.22
