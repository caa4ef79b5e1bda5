module gortbench/http

go 1.22
