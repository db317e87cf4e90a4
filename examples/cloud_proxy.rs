//! The `cloud` example's SIP proxy: Kamailio's config and its dispatcher
//! list, reloaded over Kamailio's `ctl` socket (`kamcmd dispatcher.reload`)
//! when nodes join and leave (docs/cloud.md).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

/// The dispatcher list of the running proxy and how to reload it.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    list: PathBuf,
    ctl: String,
}

impl Dispatcher {
    /// The list and the control socket in the proxy's folder `dir`.
    pub fn new(dir: &Path) -> Dispatcher {
        Dispatcher {
            list: dir.join("dispatcher.list"),
            ctl: format!("unix:{}", dir.join("kamailio_ctl").display()),
        }
    }

    /// The list's path (Kamailio's `list_file`).
    pub fn list(&self) -> &Path {
        &self.list
    }

    /// Writes the list: dispatcher set 1 = these nodes' SIP ports.
    pub fn write(&self, sip_ports: &[u16]) -> Result<(), String> {
        let mut list = String::from("# setid destination flags priority attrs\n");
        for sip in sip_ports {
            list.push_str(&format!("1 sip:127.0.0.1:{sip} 0 0\n"));
        }
        // written whole, then renamed: Kamailio never reads half a list
        let tmp = self.list.with_extension("list.new");
        std::fs::write(&tmp, list).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &self.list).map_err(|e| format!("{}: {e}", self.list.display()))
    }

    /// Writes the list and has the running Kamailio reload it
    /// (`kamcmd -s <ctl> dispatcher.reload`; a reload refused as too soon
    /// after the last is tried again, up to 5 times a second apart).
    #[allow(clippy::disallowed_methods)] // waits in wall-clock time for Kamailio
    pub async fn update(&self, sip_ports: &[u16]) -> Result<(), String> {
        self.write(sip_ports)?;
        let mut last = String::new();
        for _ in 0..5 {
            let out = Command::new("kamcmd")
                .args(["-s", &self.ctl, "dispatcher.reload"])
                .output()
                .await
                .map_err(|e| format!("kamcmd (installed with kamailio): {e}"))?;
            let text = String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr);
            if out.status.success() && !text.contains("error") {
                return Ok(());
            }
            last = text.trim().to_owned();
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Err(format!("dispatcher.reload failed: {last}"))
    }
}

/// Kamailio's config: dispatcher set 1 from `dispatcher`'s list, OPTIONS
/// probing every second, failover in `failure_route`, the `ctl` socket for
/// reloads.
pub fn kamailio_cfg(proxy: SocketAddr, dispatcher: &Dispatcher) -> String {
    format!(
        r#"#!KAMAILIO
debug=1
log_stderror=yes
fork=yes
children=2
disable_tcp=yes
auto_aliases=no
listen=udp:{proxy}
alias="{proxy}"
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "ctl.so"
loadmodule "dispatcher.so"
modparam("ctl", "binrpc", "{ctl}")
modparam("tm", "fr_timer", 1000)
modparam("tm", "fr_inv_timer", 30000)
modparam("dispatcher", "list_file", "{list}")
modparam("dispatcher", "reload_delta", 1)
modparam("dispatcher", "ds_ping_interval", 1)
modparam("dispatcher", "ds_ping_method", "OPTIONS")
modparam("dispatcher", "ds_probing_mode", 1)
modparam("dispatcher", "ds_probing_threshold", 1)
modparam("dispatcher", "flags", 2)
modparam("dispatcher", "xavp_dst", "_dsdst_")
modparam("rr", "enable_full_lr", 1)
request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (has_totag()) {{
        if (loose_route()) {{ route(RELAY); exit; }}
        if (is_method("ACK") && t_check_trans()) {{ route(RELAY); exit; }}
        if (ds_select_dst("1", "0")) {{ route(RELAY); exit; }}
        sl_send_reply("404", "Not here"); exit;
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) route(RELAY); exit; }}
    t_check_trans();
    if (is_method("INVITE|SUBSCRIBE")) record_route();
    if (!ds_select_dst("1", "0")) {{ sl_send_reply("503", "No node"); exit; }}
    t_on_failure("FAILOVER");
    route(RELAY);
}}
route[RELAY] {{
    if (!t_relay()) sl_reply_error();
    exit;
}}
failure_route[FAILOVER] {{
    if (t_is_canceled()) exit;
    if (!t_branch_replied()) {{
        # no reply from the node at all (fr_timer ran out, or sending failed):
        # it never had the call; down until a probe answers
        ds_mark_dst("ip");
    }} else if (!t_check_status("503")) {{
        # the node had the call (it replied): its answer stands
        exit;
    }}
    if (ds_next_dst()) {{
        xlog("L_WARN", "failover of $ci to $du\n");
        t_on_failure("FAILOVER");
        t_relay();
    }}
}}
"#,
        list = dispatcher.list().display(),
        ctl = dispatcher.ctl,
    )
}
