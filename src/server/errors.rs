//! The one place where internal errors become RESP error replies, so every path reports the
//! same condition with the same text.

use tinkerdb_resp::Frame;

use crate::shard::ShardError;

/// The reply for a failed shard request. Retryable conditions use Redis Cluster's codes
/// (`TRYAGAIN`, `CLUSTERDOWN`) that cluster-aware clients already retry on.
pub fn shard_error(e: &ShardError) -> Frame {
    match e {
        ShardError::NotLeader { leader: 0 } => {
            Frame::error("CLUSTERDOWN The shard has no leader right now; retry shortly")
        }
        ShardError::NotLeader { leader } => Frame::error(format!(
            "TRYAGAIN This node is not the shard's leader (node {leader} is); retry"
        )),
        ShardError::Retry(why) => Frame::error(format!("TRYAGAIN {why}")),
        ShardError::Stopped => Frame::error("ERR The server is shutting down"),
        ShardError::Fatal(why) | ShardError::Invalid(why) => Frame::error(format!("ERR {why}")),
    }
}

/// `ERR unknown command ...`, byte for byte as Redis 7 words it (arguments quoted, the list
/// cut near 128 characters).
pub fn unknown_command(args: &[bytes::Bytes]) -> Frame {
    let name = String::from_utf8_lossy(args.first().map_or(&[][..], |a| &a[..]));
    let name: String = name.chars().take(128).collect();
    let mut listed = String::new();
    for arg in args.iter().skip(1) {
        if listed.len() >= 128 {
            break;
        }
        let room = 128 - listed.len();
        let text = String::from_utf8_lossy(arg);
        let text: String = text.chars().take(room).collect();
        listed.push_str(&format!("'{text}' "));
    }
    Frame::error(format!(
        "ERR unknown command '{name}', with args beginning with: {listed}"
    ))
}

/// `ERR wrong number of arguments for '<cmd>' command`.
pub fn wrong_arity(name: &str) -> Frame {
    Frame::error(format!(
        "ERR wrong number of arguments for '{}' command",
        name.to_ascii_lowercase()
    ))
}

/// `ERR unknown subcommand '<sub>'. Try <CMD> HELP.`
pub fn unknown_subcommand(command: &str, sub: &[u8]) -> Frame {
    Frame::error(format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        String::from_utf8_lossy(sub),
        command.to_ascii_uppercase()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn unknown_command_matches_redis() {
        let args = vec![Bytes::from("foo"), Bytes::from("bar"), Bytes::from("baz")];
        assert_eq!(
            unknown_command(&args),
            Frame::error("ERR unknown command 'foo', with args beginning with: 'bar' 'baz' ")
        );
        assert_eq!(
            unknown_command(&[Bytes::from("foo")]),
            Frame::error("ERR unknown command 'foo', with args beginning with: ")
        );
    }
}
