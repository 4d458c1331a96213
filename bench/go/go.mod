// SPDX-License-Identifier: MIT
module gfibers/bench

go 1.19
