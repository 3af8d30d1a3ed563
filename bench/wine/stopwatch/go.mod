module stopwatch

go 1.19
