//! Pub/sub commands: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH, SPUBLISH, PUBSUB. Messages
//! stay inside the tenant: channels of different databases never meet.

use crate::command::{CommandSpec, Flags, KeySpec};
use crate::context::Ctx;
use crate::error::{CommandError, CommandResult};
use crate::pubsub::ChannelKind;
use bytes::Bytes;
use resp::Reply;

const P: Flags = Flags::PUBSUB.union(Flags::NOSCRIPT).union(Flags::LOADING).union(Flags::STALE);
const SUB: Flags = P.union(Flags::SUBSCRIBE_CONTEXT);

const fn p(name: &'static str, arity: i32, flags: Flags, handler: crate::command::Handler) -> CommandSpec {
    CommandSpec { name, arity, flags, keys: KeySpec::NONE, group: "pubsub", handler }
}

pub static COMMANDS: &[CommandSpec] = &[
    p("subscribe", -2, SUB, subscribe),
    p("ssubscribe", -2, SUB, subscribe),
    p("psubscribe", -2, SUB, psubscribe),
    p("unsubscribe", -1, SUB, unsubscribe),
    p("sunsubscribe", -1, SUB, unsubscribe),
    p("punsubscribe", -1, SUB, punsubscribe),
    p("publish", 3, P.union(Flags::FAST), publish),
    p("spublish", 3, P.union(Flags::FAST), publish),
    p("pubsub", -2, P, pubsub),
];

/// Most channels plus patterns one client may subscribe to.
const MAX_SUBSCRIPTIONS: usize = 100_000;

fn confirmation(kind: &'static str, name: Option<Bytes>, count: usize) -> Reply {
    Reply::Push(vec![
        Reply::Bulk(Bytes::from_static(kind.as_bytes())),
        name.map_or(Reply::Nil, Reply::Bulk),
        Reply::Integer(count as i64),
    ])
}

/// The count a (un)subscribe confirmation reports: shard replies count shard channels only
/// (Redis 7), plain ones count channels and patterns.
fn count_for(client: &crate::context::ClientState, kind: ChannelKind) -> usize {
    match kind {
        ChannelKind::Plain => client.channels.len() + client.patterns.len(),
        ChannelKind::Shard => client.shard_channels.len(),
    }
}

fn sync_counts(ctx: &mut Ctx) {
    let mut info = ctx.client.handle.info.lock();
    info.subscriptions = ctx.client.channels.len();
    info.patterns = ctx.client.patterns.len();
}

/// SSUBSCRIBE / SUNSUBSCRIBE / SPUBLISH work on shard channels, a namespace of their own.
fn kind_of(args: &[Bytes]) -> ChannelKind {
    let name = &args[0];
    if crate::args::is(name, "ssubscribe") || crate::args::is(name, "sunsubscribe") || crate::args::is(name, "spublish")
    {
        ChannelKind::Shard
    } else {
        ChannelKind::Plain
    }
}

fn client_channels(
    client: &mut crate::context::ClientState,
    kind: ChannelKind,
) -> &mut std::collections::BTreeSet<Bytes> {
    match kind {
        ChannelKind::Plain => &mut client.channels,
        ChannelKind::Shard => &mut client.shard_channels,
    }
}

fn subscribe(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let Some(tenant) = ctx.tenant().cloned() else { return Err(CommandError::NoAuth) };
    if ctx.client.subscription_count() + args.len() > MAX_SUBSCRIPTIONS {
        return Err(CommandError::err(format!("too many subscriptions (limit {MAX_SUBSCRIPTIONS})")));
    }
    let channel_kind = kind_of(args);
    let kind = if channel_kind == ChannelKind::Shard { "ssubscribe" } else { "subscribe" };
    let mut replies = Vec::new();
    let mut pubsub = tenant.pubsub.lock();
    for ch in &args[1..] {
        if client_channels(ctx.client, channel_kind).insert(ch.clone()) {
            let (id, tx, handle) = (ctx.client.id, ctx.client.push_tx.clone(), ctx.client.handle.clone());
            pubsub.subscribe(channel_kind, ch.clone(), id, tx, handle);
        }
        replies.push(confirmation(kind, Some(ch.clone()), count_for(ctx.client, channel_kind)));
    }
    drop(pubsub);
    sync_counts(ctx);
    Ok(Reply::Sequence(replies))
}

fn psubscribe(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let Some(tenant) = ctx.tenant().cloned() else { return Err(CommandError::NoAuth) };
    if ctx.client.subscription_count() + args.len() > MAX_SUBSCRIPTIONS {
        return Err(CommandError::err(format!("too many subscriptions (limit {MAX_SUBSCRIPTIONS})")));
    }
    let mut replies = Vec::new();
    let mut pubsub = tenant.pubsub.lock();
    for pat in &args[1..] {
        if ctx.client.patterns.insert(pat.clone()) {
            pubsub.psubscribe(pat.clone(), ctx.client.id, ctx.client.push_tx.clone(), ctx.client.handle.clone());
        }
        replies.push(confirmation("psubscribe", Some(pat.clone()), ctx.client.subscription_count()));
    }
    drop(pubsub);
    sync_counts(ctx);
    Ok(Reply::Sequence(replies))
}

fn unsubscribe(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let Some(tenant) = ctx.tenant().cloned() else { return Err(CommandError::NoAuth) };
    let channel_kind = kind_of(args);
    let kind = if channel_kind == ChannelKind::Shard { "sunsubscribe" } else { "unsubscribe" };
    let targets: Vec<Bytes> = if args.len() > 1 {
        args[1..].to_vec()
    } else {
        client_channels(ctx.client, channel_kind).iter().cloned().collect()
    };
    if targets.is_empty() {
        return Ok(confirmation(kind, None, count_for(ctx.client, channel_kind)));
    }
    let mut replies = Vec::new();
    let mut pubsub = tenant.pubsub.lock();
    for ch in targets {
        if client_channels(ctx.client, channel_kind).remove(&ch) {
            pubsub.unsubscribe(channel_kind, &ch, ctx.client.id);
        }
        replies.push(confirmation(kind, Some(ch), count_for(ctx.client, channel_kind)));
    }
    drop(pubsub);
    sync_counts(ctx);
    Ok(Reply::Sequence(replies))
}

fn punsubscribe(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let Some(tenant) = ctx.tenant().cloned() else { return Err(CommandError::NoAuth) };
    let targets: Vec<Bytes> =
        if args.len() > 1 { args[1..].to_vec() } else { ctx.client.patterns.iter().cloned().collect() };
    if targets.is_empty() {
        return Ok(confirmation("punsubscribe", None, ctx.client.subscription_count()));
    }
    let mut replies = Vec::new();
    let mut pubsub = tenant.pubsub.lock();
    for pat in targets {
        if ctx.client.patterns.remove(&pat) {
            pubsub.punsubscribe(&pat, ctx.client.id);
        }
        replies.push(confirmation("punsubscribe", Some(pat), ctx.client.subscription_count()));
    }
    drop(pubsub);
    sync_counts(ctx);
    Ok(Reply::Sequence(replies))
}

fn publish(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let Some(tenant) = ctx.tenant().cloned() else { return Err(CommandError::NoAuth) };
    let pubsub = tenant.pubsub.lock();
    let n = match kind_of(args) {
        ChannelKind::Plain => pubsub.publish(&args[1], &args[2]),
        ChannelKind::Shard => pubsub.spublish(&args[1], &args[2]),
    };
    Ok(Reply::Integer(n as i64))
}

fn pubsub(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let Some(tenant) = ctx.tenant().cloned() else { return Err(CommandError::NoAuth) };
    let sub = crate::args::lower_name(&args[1]);
    let ps = tenant.pubsub.lock();
    match sub.as_str() {
        "channels" | "shardchannels" if args.len() <= 3 => {
            let kind = if sub == "channels" { ChannelKind::Plain } else { ChannelKind::Shard };
            let names = ps.channel_names(kind, args.get(2).map(|p| p.as_ref()));
            Ok(Reply::Array(names.into_iter().map(Reply::Bulk).collect()))
        }
        "numsub" | "shardnumsub" => {
            let mut out = Vec::new();
            for ch in &args[2..] {
                out.push(Reply::Bulk(ch.clone()));
                let kind = if sub == "numsub" { ChannelKind::Plain } else { ChannelKind::Shard };
                out.push(Reply::Integer(ps.channel_subscribers(kind, ch) as i64));
            }
            Ok(Reply::Array(out))
        }
        "numpat" if args.len() == 2 => Ok(Reply::Integer(ps.pattern_count() as i64)),
        _ => Err(CommandError::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
            crate::exec::printable(&args[1], 64)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use crate::pubsub::PushMessage;
    use crate::testing::*;
    use resp::Reply;

    #[test]
    fn publish_reaches_subscribers_of_the_same_tenant_only() {
        let mut sub = TestClient::new();
        let mut publisher = sub.another();
        let Reply::Sequence(confirms) = sub.cmd(&["SUBSCRIBE", "news", "sport"]) else { panic!() };
        assert_eq!(confirms.len(), 2);
        assert!(err("ERR Can't execute 'get'")(&sub.cmd(&["GET", "x"])));
        assert_eq!(publisher.cmd(&["PUBLISH", "news", "hello"]), int(1));
        assert_eq!(publisher.cmd(&["PUBLISH", "nobody", "hello"]), int(0));
        assert_eq!(
            sub.push_rx.try_recv().unwrap(),
            PushMessage::Message { channel: "news".into(), payload: "hello".into() }
        );
        let mut stranger = TestClient::new();
        assert_eq!(stranger.cmd(&["PUBLISH", "news", "x"]), int(0));
        assert_eq!(publisher.cmd(&["PUBSUB", "NUMSUB", "news"]), Reply::Array(vec![bulk("news"), int(1)]));
    }

    #[test]
    fn patterns() {
        let mut sub = TestClient::new();
        let mut publisher = sub.another();
        sub.cmd(&["PSUBSCRIBE", "news.*"]);
        assert_eq!(publisher.cmd(&["PUBLISH", "news.tech", "x"]), int(1));
        assert_eq!(
            sub.push_rx.try_recv().unwrap(),
            PushMessage::PMessage { pattern: "news.*".into(), channel: "news.tech".into(), payload: "x".into() }
        );
        let Reply::Sequence(r) = sub.cmd(&["PUNSUBSCRIBE"]) else { panic!() };
        assert_eq!(r.len(), 1);
        assert_eq!(sub.cmd(&["GET", "x"]), Reply::Nil);
    }
}
