//! `mailroom config`: the effective configuration, secrets redacted.

use crate::config::Config;

pub fn run(cfg: &Config) -> anyhow::Result<()> {
    super::print_stdout(&render(cfg))
}

fn render(cfg: &Config) -> String {
    let mut out = String::new();
    let source = cfg.source.as_ref().map_or_else(
        || "(no file: defaults and environment)".into(),
        |p| p.display().to_string(),
    );
    out.push_str(&format!(
        "# source: {source}\n[storage]\ndatabase = {:?}\narchive_dir = {:?}\n",
        cfg.storage.database, cfg.storage.archive_dir
    ));
    match &cfg.myepo {
        Some(m) => out.push_str(&format!(
            "\n[myepo]\ntoken_url = \"{}\"\napi_base_url = \"{}\"\nclient_id = {:?}\nclient_secret = \"{}\"\nscope = {:?}\n",
            m.token_url, m.api_base_url, m.client_id, m.client_secret, m.scope.as_deref().unwrap_or("")
        )),
        None => out.push_str("\n# [myepo] disabled\n"),
    }
    match &cfg.ops {
        Some(o) => out.push_str(&format!(
            "\n[ops]\nbase_url = \"{}\"\nconsumer_key = {:?}\nconsumer_secret = \"{}\"\n",
            o.base_url, o.consumer_key, o.consumer_secret
        )),
        None => out.push_str("\n# [ops] disabled\n"),
    }
    match &cfg.jpo {
        Some(j) => out.push_str(&format!(
            "\n[jpo]\ntoken_url = \"{}\"\napi_base_url = \"{}\"\nusername = {:?}\npassword = \"{}\"\n",
            j.token_url, j.api_base_url, j.username, j.password
        )),
        None => out.push_str("\n# [jpo] disabled\n"),
    }
    out
}
