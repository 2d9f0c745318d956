"""Which calls count as carrying a credential, decided from metadata alone (in grpc's serving thread)."""

from __future__ import annotations

from plotboss.admission import credential_check
from plotboss.auth import TokenSet

READ, CONTROL = "r" * 32, "c" * 32


def test_only_a_token_the_agent_knows_is_a_credential() -> None:
    check = credential_check(TokenSet(read=(READ,), control=(CONTROL,)), mutual_tls=False)
    assert check((("authorization", f"Bearer {READ}"),))
    assert check((("x-other", "1"), ("authorization", f"bearer {CONTROL}")))
    assert not check((("authorization", f"Bearer {READ}x"),))
    assert not check((("authorization", "Bearer "),))
    assert not check((("authorization", READ),))  # no scheme
    assert not check(())
    assert not check(None)


def test_without_tokens_only_a_mutual_tls_agent_has_credentialed_callers() -> None:
    assert credential_check(TokenSet(), mutual_tls=True)(())
    assert not credential_check(TokenSet(), mutual_tls=False)((("authorization", f"Bearer {READ}"),))
    # with tokens, a client certificate alone is no credential (the agent asks for a token too)
    assert not credential_check(TokenSet(read=(READ,)), mutual_tls=True)(())
