#!/usr/bin/env bats
# Rekeying (rekey.bash): tlspipe -l sends in every server write mode to a
# tlspipe client while either side updates keys or renegotiates.
load helpers
load rekey

@test "download every byte in every server write mode while the server updates keys (TLS 1.3)" {
	matrix download 1.3 server
}

@test "download every byte in every server write mode while the server renegotiates (TLS 1.2)" {
	matrix download 1.2 server
}

@test "download every byte in every server write mode while the receiving client updates keys (TLS 1.3)" {
	matrix download 1.3 client
}

@test "download every byte in every server write mode while the receiving client renegotiates (TLS 1.2)" {
	matrix download 1.2 client
}
