# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.

"""The audit module's main(): its options into an Audit, the result out."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ._audit import Audit, AuditSettings, parse_domain_lines
from ._dns import DNSPYTHON_IMPORT_ERROR
from ._options import OptionError, parse, relay_recipient, to_a_label


def run_audit(module: AnsibleModule) -> None:
    if DNSPYTHON_IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib('dnspython'), exception=DNSPYTHON_IMPORT_ERROR)
    params = module.params
    raw_domains = [params['domain']] if params['domain'] is not None else list(params['domains'] or [])
    if params['domains_file']:
        try:
            with open(params['domains_file'], encoding='utf-8') as handle:
                raw_domains += parse_domain_lines(handle)
        except (OSError, UnicodeError) as exc:
            module.fail_json(msg='Invalid option: domains_file: cannot read %s: %s' % (params['domains_file'], exc))
    if not raw_domains:
        module.fail_json(msg='Invalid option: no domain to audit (domain, domains and domains_file are empty)')
    try:
        options = parse(dict(params, domain=None, domains=None), require_domain=False)
        valid = []
        for raw in raw_domains:
            try:
                valid.append(to_a_label(raw))
            except OptionError:
                continue
        if options.addresses and len(set(valid)) > 1:
            raise OptionError('addresses: can be given with one domain only (they stand for its MX hosts)')
        settings = AuditSettings(
            checks=tuple(params['checks']), concurrency=params['concurrency'], per_address=params['per_address'],
            deadline=params['deadline'], retry_4xx=params['retry_4xx'], transcripts=params['transcripts'],
            relay_recipient=relay_recipient(params['relay_recipient'], valid), relay_variants=params['relay_variants'],
            keep_transcripts=params['transcripts'] == 'all' or bool(params['output_file']) and not module.check_mode)
        audit = Audit(options, settings, raw_domains)
    except OptionError as exc:
        module.fail_json(msg='Invalid option: %s' % exc)
    audit.execute()
    written = None
    if params['output_file'] and not module.check_mode:
        try:
            audit.write(params['output_file'])
        except OSError as exc:
            module.fail_json(msg='Cannot write output_file %s: %s' % (params['output_file'], exc))
        written = params['output_file']
    result = audit.take_result()
    del audit
    if written is not None:
        result['output_file'] = written
    module.exit_json(changed=False, **result)
