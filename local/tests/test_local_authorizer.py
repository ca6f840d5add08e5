"""The authorizer's checks one by one, and the claim strings API Gateway hands to the function."""

import calendar

import pytest

from todo_local.authorizer import CognitoAuthorizer, Unauthorized, bearer_token, claims_as_strings
from todo_local.endpoints import as_endpoints

# Each bad case must fail for its own reason, not for a flaw the forge introduced by accident.
EXPECTED_REASON = {
    "garbage": "DecodeError",
    "tampered_payload": "InvalidSignatureError",
    "foreign_key": "InvalidSignatureError",
    "unknown_kid": "PyJWKClientError",
    "alg_none": "InvalidAlgorithmError",
    "hs256_with_public_key": "InvalidAlgorithmError",
    "expired": "ExpiredSignatureError",
    "wrong_audience": "InvalidAudienceError",
    "wrong_issuer": "InvalidIssuerError",
    "access_token": "MissingRequiredClaimError",  # a real access token has no `aud` at all
    "forged_access_token": "token_use is 'access'",
    "missing_token_use": "MissingRequiredClaimError",
}


@pytest.fixture(scope="module")
def authorizer(local_platform):
    endpoints = as_endpoints(local_platform.endpoints)
    return CognitoAuthorizer(endpoints.jwks_url, endpoints.issuer, endpoints.user_pool_client_id)


@pytest.mark.parametrize(("case", "reason"), sorted(EXPECTED_REASON.items()))
def test_each_bad_token_fails_its_own_check(case, reason, authorizer, token_forge, api_user):
    header = token_forge.authorization_header(case, api_user)
    with pytest.raises(Unauthorized, match=reason):
        authorizer.verify(bearer_token(header))


def test_a_real_id_token_verifies_to_its_claims(authorizer, api_user):
    claims = authorizer.verify(api_user.id_token)
    assert claims["sub"] == api_user.sub
    assert claims["email"] == api_user.email
    assert claims["token_use"] == "id"


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic abc", "Token abc", "abc"])
def test_bearer_token_refuses_anything_but_bearer(header):
    with pytest.raises(Unauthorized):
        bearer_token(header)


def test_bearer_token_takes_the_token():
    assert bearer_token("Bearer a.b.c") == "a.b.c"
    assert bearer_token("  BEARER a.b.c  ") == "a.b.c"


def test_claims_become_strings_the_way_api_gateway_renders_them():
    exp = calendar.timegm((2024, 5, 1, 13, 10, 22, 0, 0, 0))
    claims = claims_as_strings(
        {
            "sub": "abc",
            "exp": exp,
            "iat": exp - 3600,
            "auth_time": exp - 3600,
            "email_verified": True,
            "cognito:groups": ["admins", "users"],
            "custom:prefs": {"a": 1},
        }
    )
    assert claims == {
        "sub": "abc",
        "exp": "Wed May 01 13:10:22 UTC 2024",
        "iat": "Wed May 01 12:10:22 UTC 2024",
        "auth_time": str(exp - 3600),
        "email_verified": "true",
        "cognito:groups": "admins,users",
        "custom:prefs": '{"a":1}',
    }
