module gfibers/bench

go 1.19
