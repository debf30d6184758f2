#!/usr/bin/env bats
# Rekeying (rekey.bash): every byte both ways at once through the echo peer,
# tlspipe in every write mode, while either side updates keys or renegotiates.
load helpers
load rekey

@test "every byte both ways at once through an echo peer that updates keys, in every mode (TLS 1.3)" {
	matrix both_ways 1.3 peer
}

@test "every byte both ways at once through an echo peer that renegotiates, in every mode (TLS 1.2)" {
	matrix both_ways 1.2 peer
}

@test "every byte both ways at once through an echo peer while tlspipe updates keys, in every mode (TLS 1.3)" {
	matrix both_ways 1.3 client
}

@test "every byte both ways at once through an echo peer while tlspipe renegotiates, in every mode (TLS 1.2)" {
	matrix both_ways 1.2 client
}
