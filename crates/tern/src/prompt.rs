//! Questions asked on a terminal (dialoguer, drawn on stderr so `--json` output stays clean),
//! the rule that without a terminal a missing value is an error naming its flag, and the
//! questions `tern redis create` and `tern kafka create` share (org, name, regions).

use crate::client::Client;
use anyhow::bail;
use control_api as api;
use dialoguer::theme::ColorfulTheme;
use std::io::IsTerminal;

/// Whether missing values may be asked for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Interaction {
    /// stdin and stdout are terminals: ask.
    Prompt,
    /// Scripts and CI: never wait for an answer, fail naming the flag instead.
    NoPrompt,
}

impl Interaction {
    pub(crate) fn detect() -> Interaction {
        if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
            Interaction::Prompt
        } else {
            Interaction::NoPrompt
        }
    }
}

/// The look of every question; the first one also arranges for Ctrl-C to show the cursor
/// again (selections hide it, and a process killed by SIGINT would leave it hidden).
fn theme() -> ColorfulTheme {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(restore_cursor_on_ctrl_c);
    ColorfulTheme::default()
}

/// Registers the SIGINT handler before returning (so a Ctrl-C at the first question is caught),
/// then waits for it on a thread of its own.
fn restore_cursor_on_ctrl_c() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        let interrupts = {
            let _context = rt.enter();
            signal(SignalKind::interrupt())
        };
        let Ok(mut interrupts) = interrupts else { return };
        let _ = std::thread::Builder::new().name("ctrl-c".into()).spawn(move || {
            if rt.block_on(interrupts.recv()).is_some() {
                end_interrupted();
            }
        });
    }
}

/// Ends the process as a shell expects after Ctrl-C (status 130), cursor visible.
fn end_interrupted() -> ! {
    let _ = dialoguer::console::Term::stderr().show_cursor();
    eprintln!();
    std::process::exit(130)
}

/// An answer, or the end of the process if the question was interrupted: the key reader
/// raises SIGINT on Ctrl-C, and with the handler above installed its read then fails with
/// `Interrupted`, which would otherwise surface as an error (exit status 1).
fn answered<T>(result: dialoguer::Result<T>) -> anyhow::Result<T> {
    match result {
        Err(dialoguer::Error::IO(e)) if e.kind() == std::io::ErrorKind::Interrupted => end_interrupted(),
        other => Ok(other?),
    }
}

/// A line of text; blank gives `None`.
pub(crate) fn optional_text(question: &str) -> anyhow::Result<Option<String>> {
    let theme = theme();
    let input = dialoguer::Input::<String>::with_theme(&theme).with_prompt(question).allow_empty(true);
    let text = answered(input.interact_text())?;
    Ok(Some(text.trim().to_string()).filter(|a| !a.is_empty()))
}

/// A line of text with a default shown and taken on a blank answer.
pub(crate) fn text_with_default(question: &str, default: &str) -> anyhow::Result<String> {
    let theme = theme();
    let input = dialoguer::Input::<String>::with_theme(&theme).with_prompt(question).default(default.to_string());
    Ok(answered(input.interact_text())?.trim().to_string())
}

/// A secret typed without echo.
pub(crate) fn secret(question: &str) -> anyhow::Result<String> {
    Ok(answered(dialoguer::Password::with_theme(&theme()).with_prompt(question).interact())?.trim().to_string())
}

/// One of `items` (arrow keys, Enter); returns its index.
pub(crate) fn select<T: ToString>(question: &str, items: &[T], default: usize) -> anyhow::Result<usize> {
    answered(dialoguer::Select::with_theme(&theme()).with_prompt(question).items(items).default(default).interact())
}

/// Any of `items` (Space toggles, Enter accepts); returns their indexes.
pub(crate) fn multi_select<T: ToString>(question: &str, items: &[T]) -> anyhow::Result<Vec<usize>> {
    answered(dialoguer::MultiSelect::with_theme(&theme()).with_prompt(question).items(items).interact())
}

/// Yes or no.
pub(crate) fn confirm(question: &str, default: bool) -> anyhow::Result<bool> {
    answered(dialoguer::Confirm::with_theme(&theme()).with_prompt(question).default(default).interact())
}

/// The org to work in: `given` (checked against the token), else the token's only org, else a
/// choice on a terminal. The API scopes every call by the token, so the answer only guards
/// against working in an org the user did not mean.
pub(crate) fn org(c: &Client, given: Option<&str>, ui: Interaction) -> anyhow::Result<String> {
    let orgs: Vec<api::Org> = c.get("/v1/orgs")?;
    let names: Vec<&str> = orgs.iter().map(|o| o.name.as_str()).collect();
    if let Some(given) = given {
        return match orgs.iter().find(|o| o.name == given || o.id == given) {
            Some(o) => Ok(o.name.clone()),
            None => bail!("your token does not belong to org '{given}' (it belongs to: {})", names.join(", ")),
        };
    }
    match (names.as_slice(), ui) {
        ([], _) => bail!("your token belongs to no org; ask your operator for a new one"),
        ([only], _) => Ok(only.to_string()),
        (_, Interaction::Prompt) => Ok(names[select("Org", &names, 0)?].to_string()),
        (_, Interaction::NoPrompt) => bail!("your token sees several orgs ({}): pass -o/--org", names.join(", ")),
    }
}

/// The name: `given`, else asked (blank: generated), else generated by the control plane.
pub(crate) fn name(given: Option<String>, ui: Interaction) -> anyhow::Result<Option<String>> {
    match (given, ui) {
        (Some(n), _) => Ok(Some(n)),
        (None, Interaction::Prompt) => optional_text("Name (blank for a generated one like late-waterfall-1133)"),
        (None, Interaction::NoPrompt) => Ok(None),
    }
}

/// How a region is shown in a list: `mad  Madrid`.
fn region_label(r: &api::Region) -> String {
    format!("{:<4} {}", r.code, r.name)
}

/// The primary region: `given`, else chosen from `regions`, else an error naming `--region`.
pub(crate) fn primary_region(
    given: Option<String>,
    regions: &[api::Region],
    ui: Interaction,
) -> anyhow::Result<String> {
    match (given, ui) {
        (Some(r), _) => Ok(r),
        (None, Interaction::Prompt) if regions.is_empty() => {
            bail!("no region has a live node to take it yet; `tern regions` shows the nodes of each")
        }
        (None, Interaction::Prompt) => {
            let labels: Vec<String> = regions.iter().map(region_label).collect();
            let i = select("Primary region (can't be changed later)", &labels, 0)?;
            Ok(regions[i].code.clone())
        }
        _ => bail!("missing --region: the primary region (can't be changed later); `tern regions` lists them"),
    }
}

/// Replica regions picked from `regions` other than `primary` (none when there is no terminal).
pub(crate) fn replica_regions(regions: &[api::Region], primary: &str, ui: Interaction) -> anyhow::Result<Vec<String>> {
    let others: Vec<&api::Region> = regions.iter().filter(|r| r.code != primary).collect();
    if ui == Interaction::NoPrompt || others.is_empty() {
        return Ok(Vec::new());
    }
    let labels: Vec<String> = others.iter().map(|r| region_label(r)).collect();
    let picked = multi_select("Replica regions (can be changed later; Space selects, Enter accepts)", &labels)?;
    Ok(picked.into_iter().map(|i| others[i].code.clone()).collect())
}

/// What is being placed in a region: a Redis database or a Kafka cluster.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Hosting {
    Redis,
    Kafka,
}

/// The regions that can take `what` now (a live node serving it), in the control plane's
/// order. The others are not offered: the control plane refuses them.
pub(crate) fn hosting_regions(regions: Vec<api::Region>, what: Hosting) -> Vec<api::Region> {
    let live = |r: &api::Region| match what {
        Hosting::Redis => r.nodes > 0,
        Hosting::Kafka => r.kafka_nodes > 0,
    };
    regions.into_iter().filter(live).collect()
}

/// The regions to choose from, fetched only when there will be a question about them.
pub(crate) fn regions_if_asking(c: &Client, ui: Interaction, what: Hosting) -> anyhow::Result<Vec<api::Region>> {
    match ui {
        Interaction::Prompt => Ok(hosting_regions(c.get("/v1/regions")?, what)),
        Interaction::NoPrompt => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(code: &str, nodes: i64, kafka_nodes: i64) -> api::Region {
        let name = code.to_uppercase();
        api::Region {
            code: code.into(),
            name,
            latitude: 0.0,
            longitude: 0.0,
            nodes,
            kafka_nodes,
            held_back: Vec::new(),
        }
    }

    #[test]
    fn only_regions_with_a_live_node_are_offered() {
        let all = vec![region("ams", 1, 0), region("cdg", 0, 0), region("mad", 2, 1)];
        let codes = |what| hosting_regions(all.clone(), what).into_iter().map(|r| r.code).collect::<Vec<_>>();
        assert_eq!(codes(Hosting::Redis), ["ams", "mad"]);
        assert_eq!(codes(Hosting::Kafka), ["mad"]);
    }
}
