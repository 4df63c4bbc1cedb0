# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.

"""What every module's main() does after its argument spec: check, validate, run, exit."""

from __future__ import annotations

import typing as t

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ._dns import DNSPYTHON_IMPORT_ERROR
from ._options import OptionError, Options, parse


def guarded_run(module: AnsibleModule, backend: t.Callable[[Options], dict[str, t.Any]],
                *, require_domain: bool = True, smtp: bool = True) -> None:
    """Validate the common options, run the backend, exit; never a traceback for bad input.

    The backend may raise OptionError too, for the options only it knows.
    """
    if DNSPYTHON_IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib('dnspython'), exception=DNSPYTHON_IMPORT_ERROR)
    try:
        options = parse(module.params, require_domain=require_domain, smtp=smtp)
        result = backend(options)
    except OptionError as exc:
        module.fail_json(msg='Invalid option: %s' % exc)
    module.exit_json(changed=False, **result)
