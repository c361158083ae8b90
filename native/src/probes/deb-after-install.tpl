#!/bin/bash
# The deb's after-install script (builder.yml deb.afterInstall). A custom script replaces
# electron-builder's own, so its steps come first, restated: the /usr/bin link, the
# chrome-sandbox mode, the MIME and desktop databases, the AppArmor profile. Then the lab's own
# step: the probe helper gets its file capabilities (the Wireshark dumpcap model; README: Probes).

if type update-alternatives >/dev/null 2>&1; then
    if [ -L '/usr/bin/${executable}' -a -e '/usr/bin/${executable}' -a "`readlink '/usr/bin/${executable}'`" != '/etc/alternatives/${executable}' ]; then
        rm -f '/usr/bin/${executable}'
    fi
    update-alternatives --install '/usr/bin/${executable}' '${executable}' '/opt/${sanitizedProductName}/${executable}' 100 || ln -sf '/opt/${sanitizedProductName}/${executable}' '/usr/bin/${executable}'
else
    ln -sf '/opt/${sanitizedProductName}/${executable}' '/usr/bin/${executable}'
fi

# SUID chrome-sandbox only where user namespaces do not work.
if ! { [[ -L /proc/self/ns/user ]] && unshare --user true; }; then
    chmod 4755 '/opt/${sanitizedProductName}/chrome-sandbox' || true
else
    chmod 0755 '/opt/${sanitizedProductName}/chrome-sandbox' || true
fi

if hash update-mime-database 2>/dev/null; then
    update-mime-database /usr/share/mime || true
fi
if hash update-desktop-database 2>/dev/null; then
    update-desktop-database /usr/share/applications || true
fi

if apparmor_status --enabled > /dev/null 2>&1; then
  APPARMOR_PROFILE_SOURCE='/opt/${sanitizedProductName}/resources/apparmor-profile'
  APPARMOR_PROFILE_TARGET='/etc/apparmor.d/${executable}'
  if apparmor_parser --skip-kernel-load --debug "$APPARMOR_PROFILE_SOURCE" > /dev/null 2>&1; then
    cp -f "$APPARMOR_PROFILE_SOURCE" "$APPARMOR_PROFILE_TARGET"
    if ! { [ -x '/usr/bin/ischroot' ] && /usr/bin/ischroot; } && hash apparmor_parser 2>/dev/null; then
      apparmor_parser --replace --write-cache --skip-read-cache "$APPARMOR_PROFILE_TARGET"
    fi
  fi
fi

# The probe helper alone may load the lab's eBPF programs: CAP_BPF + CAP_PERFMON, nothing else
# (add cap_sys_admin by hand for BPF run-time stats, the probes' measured overhead).
PROBE_HELPER='/opt/${sanitizedProductName}/resources/uring-lab-probe-helper'
if [ -f "$PROBE_HELPER" ]; then
    chown root:root "$PROBE_HELPER"
    chmod 0755 "$PROBE_HELPER"
    setcap cap_bpf,cap_perfmon+ep "$PROBE_HELPER" ||
        echo "uring-lab: could not give $PROBE_HELPER its capabilities; the eBPF probes need root until it has them (README: Probes)" >&2
fi
