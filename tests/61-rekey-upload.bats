#!/usr/bin/env bats
# Rekeying (rekey.bash): tlspipe uploads in every client write mode into
# tlspipe -l while either side updates keys or renegotiates.
load helpers
load rekey

@test "upload every byte in every client write mode while the tlspipe server updates keys (TLS 1.3)" {
	matrix upload 1.3 server
}

@test "upload every byte in every client write mode while the tlspipe server renegotiates (TLS 1.2)" {
	matrix upload 1.2 server
}

@test "upload every byte in every client write mode while the client updates keys (TLS 1.3)" {
	matrix upload 1.3 client
}

@test "upload every byte in every client write mode while the client renegotiates (TLS 1.2, --allow-client-renegotiation)" {
	matrix upload 1.2 client
}
