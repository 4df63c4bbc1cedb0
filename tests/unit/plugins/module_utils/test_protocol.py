# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

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
    assert parser.buffered <= protocol.MAX_REPLY_LINE + 2


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
