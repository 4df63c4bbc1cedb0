# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json
import re
import typing as t

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.mxaudit.smtp.plugins.module_utils import _protocol as protocol


def parse_all(data: bytes, chunk: int | None = None) -> list[protocol.Reply]:
    parser = protocol.ReplyParser()
    if chunk is None:
        return parser.feed(data)
    replies = []
    for start in range(0, len(data), chunk):
        replies.extend(parser.feed(data[start:start + chunk]))
    return replies


# ------------------------------------------------------------------ replies

def test_single_line_reply_with_enhanced_code():
    (reply,) = parse_all(b'550 5.7.1 Relaying is prohibited\r\n')
    assert reply.code == 550
    assert reply.enhanced == '5.7.1'
    assert reply.lines == ['5.7.1 Relaying is prohibited']
    assert reply.transcript() == ['S: 550 5.7.1 Relaying is prohibited']
    assert reply.short() == '550 5.7.1 Relaying is prohibited'
    assert reply.is_permanent() and not reply.bare_lf


def test_multiline_reply_fed_byte_by_byte():
    data = b'250-mx1.example.org Hello\r\n250-PIPELINING\r\n250 SIZE 10240000\r\n'
    (reply,) = parse_all(data, chunk=1)
    assert reply.code == 250
    assert reply.lines == ['mx1.example.org Hello', 'PIPELINING', 'SIZE 10240000']
    assert reply.transcript() == ['S: 250-mx1.example.org Hello', 'S: 250-PIPELINING', 'S: 250 SIZE 10240000']


def test_several_replies_in_one_read_keep_their_order():
    replies = parse_all(b'250 Sender OK\r\n550 no\r\n250 2.0.0 Ok\r\n221 Bye\r\n')
    assert [reply.code for reply in replies] == [250, 550, 250, 221]


def test_code_without_text_and_bare_lf():
    (reply,) = parse_all(b'250\n')
    assert reply.code == 250 and reply.lines == [''] and reply.bare_lf


def test_no_enhanced_code_when_absent():
    (reply,) = parse_all(b'220 mx.example.org ESMTP\r\n')
    assert reply.enhanced is None


@pytest.mark.parametrize('data, reason', [
    (b'250-first\r\n251 second\r\n', 'mixes codes 250 and 251'),
    (b'650 nope\r\n', 'not a reply line'),
    (b'hello\r\n', 'not a reply line'),
    (b'2500 x\r\n', 'no space or hyphen'),
    (b'25 short\r\n', 'not a reply line'),
])
def test_malformed_replies_are_rejected_with_a_reason(data, reason):
    parser = protocol.ReplyParser()
    with pytest.raises(protocol.ReplyError) as info:
        parser.feed(data)
    assert reason in info.value.reason
    assert not info.value.bounded
    with pytest.raises(protocol.ReplyError):
        parser.feed(b'250 ok\r\n')  # the parser stays failed


def test_malformed_multiline_keeps_the_lines_for_the_transcript():
    with pytest.raises(protocol.ReplyError) as info:
        parse_all(b'250-mx\r\n250-PIPELINING\r\n251 SIZE 1000\r\n')
    assert info.value.partial == ['250-mx', '250-PIPELINING', '251 SIZE 1000']


def test_line_over_bound_without_newline_fails_early():
    parser = protocol.ReplyParser()
    with pytest.raises(protocol.ReplyError) as info:
        for attempt in range(10):
            assert attempt < 5
            parser.feed(b'x' * 1000)
    assert info.value.bounded
    assert parser.buffered == 0


def test_reply_over_100_lines_is_cut_off():
    data = b'250-line\r\n' * 100 + b'250 end\r\n'
    with pytest.raises(protocol.ReplyError) as info:
        parse_all(data)
    assert info.value.bounded and '100 lines' in info.value.reason


def test_reply_over_64k_is_cut_off():
    data = (b'250-' + b'x' * 4000 + b'\r\n') * 20
    with pytest.raises(protocol.ReplyError) as info:
        parse_all(data)
    assert info.value.bounded and 'bytes' in info.value.reason


def test_overlong_but_bounded_line_is_flagged():
    (reply,) = parse_all(b'250 ' + b'y' * 600 + b'\r\n')
    assert reply.overlong


def test_control_bytes_are_escaped_in_transcripts():
    (reply,) = parse_all(b'220 mx \x1b[31m\xff\r\n')
    assert reply.transcript() == ['S: 220 mx \\x1b[31m\\xff']


@settings(max_examples=400, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20))
def test_any_byte_stream_gives_replies_or_a_reply_error(chunks):
    parser = protocol.ReplyParser()
    try:
        for chunk in chunks:
            for reply in parser.feed(chunk):
                assert 200 <= reply.code <= 559
                assert 1 <= len(reply.lines) <= protocol.MAX_REPLY_LINES
    except protocol.ReplyError as exc:
        assert exc.reason
    assert parser.buffered <= protocol.MAX_REPLY_LINE + 1


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b'250-', b'250 ', b'220 ', b'550 ', b'\r\n', b'\n', b'x', b'5.7.1 ', b'-', b'\r']),
                max_size=60), st.integers(min_value=1, max_value=7))
def test_reply_shaped_streams_in_any_chunking(pieces, chunk):
    data = b''.join(pieces)
    outcomes = []
    for size in (None, chunk):
        try:
            outcomes.append(('ok', [(r.code, r.lines) for r in parse_all(data, size)]))
        except protocol.ReplyError as exc:
            outcomes.append(('error', exc.reason))
    assert outcomes[0] == outcomes[1]  # chunking never changes the result


# ------------------------------------------------------------------ commands

def test_commands_are_built_as_in_the_rfc():
    assert protocol.ehlo('audit.example.net').to_bytes() == b'EHLO audit.example.net\r\n'
    assert protocol.helo('[192.0.2.1]').line == 'HELO [192.0.2.1]'
    assert protocol.ehlo('[IPv6:2001:db8::1]').line == 'EHLO [IPv6:2001:db8::1]'
    assert protocol.mail_from('').line == 'MAIL FROM:<>'
    assert protocol.mail_from('a@example.org', ['SIZE=100']).line == 'MAIL FROM:<a@example.org> SIZE=100'
    assert protocol.rcpt_to('Postmaster').line == 'RCPT TO:<Postmaster>'
    assert protocol.rcpt_to('"user@foreign"@example.org').line == 'RCPT TO:<"user@foreign"@example.org>'
    assert protocol.rcpt_to('user%foreign.example@example.org').line == 'RCPT TO:<user%foreign.example@example.org>'
    assert protocol.rcpt_to('@relay.example:user@example.org').line == 'RCPT TO:<@relay.example:user@example.org>'
    assert protocol.rcpt_to('user@[127.0.0.1]').line == 'RCPT TO:<user@[127.0.0.1]>'
    assert protocol.rcpt_to('u@x.example@example.org', allow_malformed=True).line == 'RCPT TO:<u@x.example@example.org>'
    assert protocol.vrfy('postmaster').line == 'VRFY postmaster'
    assert protocol.verb('XMXAUDITUNKNOWN').line == 'XMXAUDITUNKNOWN'


@pytest.mark.parametrize('build', [
    lambda: protocol.ehlo('bad name'),
    lambda: protocol.ehlo('audit.example.net\r\nMAIL FROM:<>'),
    lambda: protocol.ehlo('-bad.example'),
    lambda: protocol.ehlo('[300.1.1.1]'),
    lambda: protocol.ehlo(''),
    lambda: protocol.mail_from('a@example.org\r\nRCPT TO:<x@y.example>'),
    lambda: protocol.mail_from('a\x00@example.org'),
    lambda: protocol.mail_from('<a@example.org>'),
    lambda: protocol.mail_from('no-at-sign'),
    lambda: protocol.mail_from('a@example.org', ['SIZE=1\r\n']),
    lambda: protocol.rcpt_to(''),
    lambda: protocol.rcpt_to('a b@example.org'),
    lambda: protocol.rcpt_to('a@b@c.example'),
    lambda: protocol.rcpt_to('a b@x', allow_malformed=True),
    lambda: protocol.rcpt_to('x' * 65 + '@example.org'),
    lambda: protocol.rcpt_to('a@' + 'b' * 300 + '.org'),
    lambda: protocol.vrfy('two words'),
    lambda: protocol.verb('NOT A VERB'),
])
def test_bad_arguments_raise_before_any_bytes_exist(build):
    with pytest.raises(protocol.CommandError):
        build()


def test_command_line_limit_is_512_octets():
    local = 'a' * 64
    domain = '.'.join(['b' * 60] * 3) + '.org'
    command = protocol.rcpt_to('%s@%s' % (local, domain))
    assert len(command.to_bytes()) <= protocol.MAX_COMMAND_LINE


# ------------------------------------------------------------------ EHLO

def test_ehlo_capabilities_of_a_postfix_like_reply():
    (reply,) = parse_all(
        b'250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n'
        b'250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250-AUTH=PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n'
        b'250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n')
    caps = protocol.parse_ehlo(reply)
    assert caps.domain == 'mx.example.org'
    data = caps.to_dict()
    assert data['size'] == 10240000
    assert data['auth'] == ['PLAIN', 'LOGIN']
    for flag in ('pipelining', 'starttls', '8bitmime', 'smtputf8', 'enhancedstatuscodes', 'dsn', 'chunking'):
        assert data[flag] is True, flag
    assert data['other'] == {'ETRN': [], 'VRFY': []}
    assert data['keywords'] == sorted(['PIPELINING', 'SIZE', 'VRFY', 'ETRN', 'STARTTLS', 'AUTH', 'ENHANCEDSTATUSCODES',
                                       '8BITMIME', 'DSN', 'SMTPUTF8', 'CHUNKING'])


@pytest.mark.parametrize('line, size', [(b'250 SIZE 0', 0), (b'250 SIZE', 0), (b'250 SIZE 52428800', 52428800),
                                        (b'250 8BITMIME', None)])
def test_size_parameter(line, size):
    (reply,) = parse_all(b'250-mx\r\n' + line + b'\r\n')
    assert protocol.parse_ehlo(reply).size == size


def test_greeting_domain():
    assert protocol.greeting_domain(parse_all(b'220 mx1.example.org ESMTP\r\n')[0]) == 'mx1.example.org'
    assert protocol.greeting_domain(parse_all(b'220 [192.0.2.1] ready\r\n')[0]) == '[192.0.2.1]'
    assert protocol.greeting_domain(parse_all(b'220 ****************\r\n')[0]) is None
    assert protocol.greeting_domain(parse_all(b'220\r\n')[0]) is None


# ------------------------------------------------------------------ hostile input (issue 9)

def ehlo_caps(*lines: bytes) -> protocol.Capabilities:
    data = b'250-mx.example.org\r\n' + b''.join(b'250-' + line + b'\r\n' for line in lines[:-1])
    data += b'250 ' + lines[-1] + b'\r\n'
    (reply,) = parse_all(data)
    return protocol.parse_ehlo(reply)


@pytest.mark.parametrize('line', [
    'SIZE \u00b2',            # superscript two: isdigit() is True, int() raises
    'SIZE \u0661\u0662',      # Arabic-Indic digits: isdigit() and int() both accept them
    'SIZE \uff15',            # fullwidth five
    'SIZE 12abc',
    'SIZE -1',
    'SIZE +5',
    'SIZE 1 2',
    'SIZE ' + '9' * 21,       # RFC 1870: at most 20 digits
    'SIZE ' + '9' * 4000,     # int() of this many digits is slow or refused
])
def test_unparsable_size_is_recorded_never_raised(line):
    caps = ehlo_caps(b'PIPELINING', line.encode('utf-8'))
    assert caps.size is None
    data = caps.to_dict()
    assert data['size'] is None
    assert data['invalid'] == [protocol.printable(line.encode('utf-8'))]
    assert 'SIZE' in data['keywords'] and data['pipelining'] is True


def test_well_formed_ehlo_has_no_invalid_lines():
    caps = ehlo_caps(b'SIZE 20', b'AUTH PLAIN LOGIN', b'AUTH=LOGIN', b'X-FOO bar=1')
    assert caps.size == 20 and caps.auth == ['PLAIN', 'LOGIN']
    assert caps.invalid == [] and caps.to_dict()['invalid'] == []


@pytest.mark.parametrize('line, flag', [
    ('\u017fTARTTLS', 'starttls'),       # long s: 'ſ'.upper() == 'S'
    ('P\u0131PELINING', 'pipelining'),   # dotless i: 'ı'.upper() == 'I'
    ('CHUN\u212aING', 'chunking'),       # Kelvin sign
])
def test_non_ascii_keywords_are_not_folded_into_ascii_ones(line, flag):
    caps = ehlo_caps(line.encode('utf-8'))
    data = caps.to_dict()
    assert data[flag] is False
    assert data['invalid'] == [line] and caps.malformed == [line]


def test_auth_mechanisms_outside_the_sasl_grammar_are_invalid():
    caps = ehlo_caps('AUTH PLAIN \ufb01 LOGIN\u00e9'.encode('utf-8'), 'auth=\u017f'.encode('utf-8'))
    assert caps.auth == ['PLAIN']
    assert caps.to_dict()['invalid'] == ['AUTH PLAIN \ufb01 LOGIN\u00e9', 'auth=\u017f']


def test_params_outside_the_ehlo_grammar_are_invalid_but_kept():
    caps = ehlo_caps('X-THING caf\u00e9'.encode('utf-8'))
    data = caps.to_dict()
    assert data['other'] == {'X-THING': ['caf\u00e9']}
    assert data['invalid'] == ['X-THING caf\u00e9']


def test_enhanced_code_is_ascii_digits_only():
    (reply,) = parse_all('550 5.\u0667.1 no\r\n'.encode('utf-8'))
    assert reply.enhanced is None


@pytest.mark.parametrize('check, text', [
    (protocol.is_domain, 'example.org\n'),
    (protocol.is_mailbox, 'user\n@example.org'),
    (protocol.is_mailbox, 'user@example.org\n'),
    (protocol.is_address_literal, '[\u0131pv6:2001:db8::1]'),
    (protocol.is_address_literal, '[IPv6:fe80::1%eth0 x]'),
])
def test_syntax_checks_accept_ascii_only(check, text):
    assert not check(text)


def test_ehlo_name_with_an_ipv6_zone_is_refused():
    with pytest.raises(protocol.CommandError):
        protocol.ehlo('[IPv6:fe80::1%eth0 MAIL]')


@pytest.mark.parametrize('data, control, invalid_utf8, shown', [
    (b'250 a\x00b\r\n', True, False, '250 a\\x00b'),
    (b'250 \x1b[31mred\r\n', True, False, '250 \\x1b[31mred'),
    (b'250 a\rb\r\n', True, False, '250 a\\x0db'),
    (b'250 a\x7f\r\n', True, False, '250 a\\x7f'),
    (b'250 a\xc2\x9b2J\r\n', True, False, '250 a\\x9b2J'),        # C1 CSI, valid UTF-8
    (b'250 a\tb\r\n', False, False, '250 a\\x09b'),               # HT is allowed (RFC 5321 4.2)
    (b'250 caf\xc3\xa9\r\n', False, False, '250 caf\u00e9'),
    (b'250 a\xffb\r\n', False, True, '250 a\\xffb'),
    (b'250 a\xc0\xafb\r\n', False, True, '250 a\\xc0\\xafb'),     # overlong encoding of /
    (b'250 a\xed\xa0\x80\r\n', False, True, '250 a\\xed\\xa0\\x80'),  # a surrogate
    (b'250 \x00\xff\r\n', True, True, '250 \\x00\\xff'),
    (b'250 ok\r\n', False, False, '250 ok'),
])
def test_control_characters_and_invalid_utf8_are_flagged_and_escaped(data, control, invalid_utf8, shown):
    (reply,) = parse_all(data)
    assert reply.control_chars is control
    assert reply.invalid_utf8 is invalid_utf8
    assert reply.transcript() == ['S: ' + shown]
    assert reply.short() == shown


def test_flags_of_any_line_mark_the_reply():
    (reply,) = parse_all(b'250-mx\r\n250-A\x00\r\n250-B\xff\r\n250 SIZE 1\r\n')
    assert reply.control_chars and reply.invalid_utf8 and not reply.bare_lf


@pytest.mark.parametrize('char', ['\u2028', '\u2029', '\u202e', '\u200b', '\ufeff', '\u3000', '\U000e0001'])
def test_invisible_and_line_breaking_unicode_is_escaped(char):
    (reply,) = parse_all(('250 a%sb\r\n' % char).encode('utf-8'))
    escaped = '\\u%04x' % ord(char) if ord(char) < 0x10000 else '\\U%08x' % ord(char)
    assert reply.transcript() == ['S: 250 a%sb' % escaped]
    assert reply.lines == ['a%sb' % escaped]


def test_a_reply_built_by_hand_is_escaped_in_transcripts_too():
    reply = protocol.Reply(code=250, lines=['a\x1bb'], raw_lines=['250 a\x1bb\u2028'])
    assert reply.transcript() == ['S: 250 a\\x1bb\\u2028']
    assert reply.short() == '250 a\\x1bb'


def outcome(data: bytes, cuts: t.Sequence[int] = ()) -> tuple:
    """Everything a stream yields, fed in pieces cut at ``cuts``: replies, error, what is left buffered."""
    parser = protocol.ReplyParser()
    replies: list[protocol.Reply] = []
    error = None
    bounds = [0] + sorted(set(cut for cut in cuts if 0 < cut < len(data))) + [len(data)]
    try:
        for start, end in zip(bounds, bounds[1:]):
            replies.extend(parser.feed(data[start:end]))
            assert parser.buffered <= protocol.MAX_REPLY_LINE + 1
    except protocol.ReplyError as exc:
        replies.extend(exc.replies)
        error = (exc.reason, exc.bounded, exc.partial)
        assert parser.buffered == 0
    return replies, error, parser.buffered, parser.in_reply


def long_line(total: int, ending: bytes = b'\r\n', code: bytes = b'250 ') -> bytes:
    """A reply line of exactly ``total`` bytes, its line ending included."""
    return code + b'y' * (total - len(code) - len(ending)) + ending


@pytest.mark.parametrize('total, ending, ok', [
    (4094, b'\r\n', True), (4095, b'\r\n', True), (4096, b'\r\n', True), (4097, b'\r\n', True),
    (4098, b'\r\n', True), (4099, b'\r\n', False), (4100, b'\r\n', False),
    (4096, b'\n', True), (4097, b'\n', True), (4098, b'\n', False), (4099, b'\n', False),
])
def test_line_bound_does_not_depend_on_where_the_segment_splits(total, ending, ok):
    # The bound is 4,096 bytes of line text, its CRLF (or bare LF) not counted.
    data = b'250-first\r\n' + long_line(total, ending, b'250-') + b'250 last\r\n'
    line_end = len(b'250-first\r\n') + total
    whole = outcome(data)
    assert (whole[1] is None) is ok
    for cut in range(line_end - 6, line_end + 3):
        assert outcome(data, [cut]) == whole, cut
        assert outcome(data, [cut, cut + 1]) == whole, cut
    assert outcome(data, range(len(data))) == whole


def test_replies_before_an_error_in_the_same_read_are_not_lost():
    data = b'250 one\r\n250 two\r\nnot a reply\r\n'
    replies, error = outcome(data)[:2]
    assert [reply.lines for reply in replies] == [['one'], ['two']]
    assert error is not None and 'not a reply line' in error[0]
    assert outcome(data, range(len(data))) == outcome(data)


def test_a_failed_parser_does_not_hand_out_its_replies_twice():
    parser = protocol.ReplyParser()
    with pytest.raises(protocol.ReplyError) as first:
        parser.feed(b'250 one\r\nbad\r\n')
    assert len(first.value.replies) == 1
    with pytest.raises(protocol.ReplyError) as again:
        parser.feed(b'250 two\r\n')
    assert again.value.reason == first.value.reason and again.value.replies == []


@pytest.mark.parametrize('line, overlong', [
    (long_line(512), False), (long_line(513), True),
    (long_line(511, b'\n'), False), (long_line(512, b'\n'), True),  # 510 octets of text + CRLF is the most
])
def test_rfc_line_limit_counts_text_plus_crlf(line, overlong):
    (reply,) = parse_all(line)
    assert reply.overlong is overlong


_PIECES = st.one_of(
    st.sampled_from([b'250-', b'250 ', b'251 ', b'220 ', b'550 5.7.1 ', b'\r\n', b'\n', b'\r', b'x', b'-', b' ',
                     b'\x00', b'\x1b', b'\xff', b'\xc2\x9b', b'\xe2\x80\xa8', b'SIZE \xc2\xb2', b'AUTH PLAIN']),
    st.integers(min_value=4088, max_value=4100).map(lambda n: b'y' * n),
    st.integers(min_value=4094, max_value=4099).map(long_line),
    st.integers(min_value=4094, max_value=4099).map(lambda n: long_line(n, b'\n')),
    st.binary(max_size=40),
)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_chunking_never_changes_the_outcome(data):
    stream = b''.join(data.draw(st.lists(_PIECES, max_size=12), label='pieces'))
    whole = outcome(stream)
    # Random cuts, and cuts packed around the end of the first long line (the CR/LF split).
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(stream)), max_size=8), label='cuts')
    newline = stream.find(b'\n', 4000)
    if newline > 0:
        cuts += data.draw(st.lists(st.integers(min_value=newline - 3, max_value=newline + 1), max_size=3), label='near')
    assert outcome(stream, cuts) == whole


def _exercise(reply: protocol.Reply) -> None:
    """Every accessor other code uses; none may raise, and transcripts hold only printable text."""
    assert 200 <= reply.code <= 559 and 1 <= len(reply.lines) <= protocol.MAX_REPLY_LINES
    for line in reply.transcript() + [reply.short(), reply.text]:
        assert all(ch.isprintable() for ch in line), line
    assert reply.enhanced is None or re.fullmatch(r'[245]\.[0-9]{1,3}\.[0-9]{1,3}', reply.enhanced)
    protocol.greeting_domain(reply)
    caps = protocol.parse_ehlo(reply)
    json.dumps(caps.to_dict())
    assert caps.size is None or 0 <= caps.size < 10 ** 20
    assert all(re.fullmatch(r'[A-Z0-9_-]{1,20}', mechanism) for mechanism in caps.auth)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=300), _PIECES), max_size=20))
def test_arbitrary_bytes_raise_only_reply_error_and_stay_bounded(chunks):
    parser = protocol.ReplyParser()
    try:
        for chunk in chunks:
            for reply in parser.feed(chunk):
                _exercise(reply)
            assert parser.buffered <= protocol.MAX_REPLY_LINE + 1
            assert parser._pending_bytes <= protocol.MAX_REPLY_BYTES  # pylint: disable=protected-access
    except protocol.ReplyError as exc:
        assert exc.reason
        for reply in exc.replies:
            _exercise(reply)
        assert all(all(ch.isprintable() for ch in line) for line in exc.partial)
        assert parser.buffered == 0


@settings(max_examples=400, deadline=None)
@given(st.integers(min_value=200, max_value=559), st.lists(st.text(max_size=40), min_size=1, max_size=8))
def test_parse_ehlo_never_raises_on_any_text(code, lines):
    # A Reply built from any text, not only what the parser produces (Unicode digits, case folding ...).
    reply = protocol.Reply(code=code, lines=lines, raw_lines=['%d %s' % (code, line) for line in lines])
    for line in reply.transcript() + [reply.short()]:
        assert all(ch.isprintable() for ch in line), line
    caps = protocol.parse_ehlo(reply)
    json.dumps(caps.to_dict())
    assert caps.size is None or 0 <= caps.size < 10 ** 20
