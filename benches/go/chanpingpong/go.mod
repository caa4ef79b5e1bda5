module gortbench/chanpingpong

go 1.22
