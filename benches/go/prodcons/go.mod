module gortbench/prodcons

go 1.22
