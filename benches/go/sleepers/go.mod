module sleepers

go 1.27
