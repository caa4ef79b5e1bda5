module gortbench/parked

go 1.22
