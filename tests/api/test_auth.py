"""The initData check agrees with aiogram's reference implementation of Telegram's rule."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from aiogram.utils.web_app import check_webapp_signature
from hypothesis import given, settings
from hypothesis import strategies as st

from api.auth import init_data_secret, query_fields, verified_fields
from tests.helpers import OTHER_TOKEN, TOKEN, sign_init_data

SECRET = init_data_secret(TOKEN)
keys = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=8)
values = st.text(st.characters(codec="utf-8"), min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(fields=st.dictionaries(keys.filter(lambda k: k != "hash"), values, max_size=6))
def test_accepts_exactly_what_aiogram_accepts(fields: dict[str, str]) -> None:
    signed = sign_init_data(None, extra=fields)
    assert verified_fields(SECRET, signed) is not None
    assert check_webapp_signature(TOKEN, signed)
    for tampered in (
        signed + "&extra=1",
        signed.replace("auth_date=", "auth_date=1", 1),
        sign_init_data(None, token=OTHER_TOKEN, extra=fields),
        urlencode({**fields, "hash": "0" * 64}),
    ):
        assert (verified_fields(SECRET, tampered) is not None) is check_webapp_signature(
            TOKEN, tampered
        )


def test_accepts_signed_empty_fields() -> None:
    signed = sign_init_data(None, extra={"start_param": ""})
    assert verified_fields(SECRET, signed) == {
        "auth_date": signed.split("auth_date=")[1].split("&")[0],
        "query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
        "start_param": "",
    }


@given(garbage=st.text(max_size=200))
def test_garbage_is_refused_without_raising(garbage: str) -> None:
    assert verified_fields(SECRET, garbage) is None


@settings(max_examples=500)
@given(query=st.text(st.sampled_from("ab=&%+2x0Fé;"), max_size=40))
def test_reads_a_query_string_exactly_as_the_standard_library(query: str) -> None:
    try:
        expected = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=True))
    except ValueError:
        expected = None
    assert query_fields(query) == expected
