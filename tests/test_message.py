import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pymiio import DeviceError, PayloadError
from pymiio.protocol import decode_reply, encode_request, result_of

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def test_request_encoding_is_compact_json() -> None:
    assert encode_request(1, "get_prop", ["power"]) == \
        b'{"id":1,"method":"get_prop","params":["power"]}'
    assert json.loads(encode_request(5, "miIO.info")) == {"id": 5, "method": "miIO.info",
                                                          "params": []}


@given(st.integers(1, 9999), json_values)
def test_reply_round_trip(request_id: int, value: object) -> None:
    payload = json.dumps({"id": request_id, "result": value}).encode()
    assert decode_reply(payload + b"\x00") == {"id": request_id, "result": value}


@pytest.mark.parametrize(("raw", "expected"), [
    (b'{"id":1,"result":["on"]}\x00\x00', {"id": 1, "result": ["on"]}),
    (b'{"id":1,"result":["on"]}\n\r\x01', {"id": 1, "result": ["on"]}),
    (b'{"id":2,"result":[,]}', {"id": 2, "result": []}),
    (b'{"id":3,"result":["on",,"otu_stat",1]}', {"id": 3, "result": ["on", "otu_stat", 1]}),
    (b'{"id":4,"result":[{"did":"x","value":00}]}',
     {"id": 4, "result": [{"did": "x", "value": 0}]}),
    (b'{"id":5,"result":[{"value":007}]}', {"id": 5, "result": [{"value": 7}]}),
    (b'{"id":6,"result":,"exe_time":10}', {"id": 6, "result": None, "exe_time": 10}),
])
def test_firmware_quirks_are_repaired(raw: bytes, expected: dict[str, object]) -> None:
    assert decode_reply(raw) == expected


@pytest.mark.parametrize("raw", [b"not json", b"[1,2]", b"\xff\xfe", b"", b'{"id":1,'])
def test_non_json_keeps_the_raw_text(raw: bytes) -> None:
    with pytest.raises(PayloadError) as info:
        decode_reply(raw)
    kept = info.value.raw
    text = kept.decode("utf-8", "replace") if isinstance(kept, bytes) else kept
    assert text == raw.decode("utf-8", "replace")  # what the device said, nothing lost


def test_device_errors_carry_code_message_and_meaning() -> None:
    with pytest.raises(DeviceError) as info:
        result_of({"id": 1, "error": {"code": -5001, "message": "invalid_arg"}})
    error = info.value
    assert (error.code, error.message, error.meaning) == (-5001, "invalid_arg", "invalid argument")
    assert str(error) == "device error -5001: invalid_arg (invalid argument)"
    with pytest.raises(DeviceError) as odd:
        result_of({"id": 1, "error": "broken"})
    assert odd.value.code == -1 and odd.value.meaning is None


def test_reply_without_result_or_error() -> None:
    with pytest.raises(PayloadError, match="neither result nor error"):
        result_of({"id": 1})
    assert result_of({"id": 1, "result": 0}) == 0


def test_repairs_never_touch_string_values() -> None:  # 13.7
    raw = b'{"id":1,,"result":["my,,wifi","a:,b","v,007","[,]","x\\",,y"],"n":007}'
    assert decode_reply(raw) == {"id": 1, "result": ["my,,wifi", "a:,b", "v,007", "[,]",
                                                     'x",,y'], "n": 7}


def test_error_codes_beyond_float_range_do_not_crash() -> None:  # 14.12
    with pytest.raises(DeviceError) as info:
        result_of(decode_reply(b'{"id":1,"error":{"code":1e999,"message":"x"}}'))
    assert info.value.code == -1


def test_previews_in_errors_mask_tokens() -> None:  # 14.13
    raw = b'{"token":"2b00042f7481c7b056c4b410d28f33cf", "id": 1'
    with pytest.raises(PayloadError) as info:
        decode_reply(raw)
    assert "2b00042f7481c7b056c4b410d28f33cf" not in str(info.value)
    assert "2b00…33cf" in str(info.value)
