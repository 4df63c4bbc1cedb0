import json, time
import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.mxaudit.smtp.plugins.modules import postmaster_check, null_sender_check, relay_check, recipient_check, pipelining_check

MODS = {'postmaster': postmaster_check, 'null_sender': null_sender_check, 'relay': relay_check, 'recipient': recipient_check, 'pipelining': pipelining_check}
BEH = ['compliant', 'relay_denied_all', 'no_postmaster', 'null_sender_501', 'percent_relay', 'open_relay', 'accept_all', 'greylist', 'drops_421', 'greeting_554', 'pipelining_loses', 'never_greets']

def run(module, args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as info:
            module.main()
    return info.value.code, json.loads(capsys.readouterr().out)

def test_dump(lab, postfix, capsys):
    out = {}
    for beh in BEH + ['postfix_compliant', 'postfix_open_relay', 'postfix_no_postmaster', 'postfix_null_sender_refused', 'postfix_accept_all']:
        for name, mod in MODS.items():
            extra = {}
            if name == 'relay':
                extra['relay_recipient'] = 'relay-probe@foreign.lab.test'
            if beh.startswith('postfix'):
                extra['port'] = postfix.address(beh)[1]
                dom = beh.replace('_', '-') + '.lab.test'
            else:
                dom = lab.domain(beh)
            if beh == 'never_greets':
                extra['timeout'] = 1.0
            t0 = time.monotonic()
            code, res = run(mod, lab.module_args(domain=dom, **extra), capsys)
            el = time.monotonic() - t0
            out[beh + '/' + name] = {'code': code, 'elapsed': el, 'result': res}
    with open('/tmp/explore/dump.json', 'w') as f:
        json.dump(out, f, indent=1)
