//! What nodes say to each other about a shard: batches of raft-rs messages, and client writes
//! forwarded from a follower to the leader with the leader's replies. Encoded with bincode;
//! raft-rs messages inside stay in their protobuf encoding.

use bytes::Bytes;
use protobuf::Message as _;
use raft::prelude::Message;
use serde::{Deserialize, Serialize};
use tinkerdb_resp::Frame;

use super::entry::Payload;
use super::snapshot_transfer::SnapshotPiece;
use super::ShardError;

/// Largest number of elements accepted in a decoded reply frame (bounds peer input).
const MAX_WIRE_FRAME_ITEMS: usize = 1 << 24;

/// One message between peers.
#[derive(Debug, Serialize, Deserialize)]
pub enum PeerMessage {
    /// raft-rs messages for a group, protobuf-encoded.
    Raft {
        /// The Raft group.
        group: u64,
        /// The messages. (`Bytes`, not `Vec<u8>`: serde copies them in bulk instead of byte by
        /// byte; bincode encodes both the same way.)
        messages: Vec<Bytes>,
    },
    /// A follower asks the leader to propose a client's write.
    Forward {
        /// The follower's token for the waiting client.
        token: u64,
        /// What to propose.
        payload: Payload,
    },
    /// One piece of a snapshot file (`snapshot_transfer`). The pieces of a transfer go out in
    /// order on the same connection, interleaved with other traffic (heartbeats keep flowing
    /// during a long transfer); the receiver writes them to a file and steps the snapshot
    /// message once the file is whole. A lost piece aborts the transfer; the leader then
    /// starts it over.
    SnapshotChunk {
        /// The Raft group.
        group: u64,
        /// The piece: its transfer, the raft-rs snapshot message, where it starts in the file
        /// and the file's length (bincode encodes the struct as its fields in order, as the
        /// fields of this variant were before they became a struct).
        piece: SnapshotPiece,
    },
    /// The leader tells a node it was removed from the cluster (a removed node may never see
    /// the entry that removes it committed, because it no longer gets the log).
    Removed,
    /// The leader's answer to a [`PeerMessage::Forward`].
    ForwardReply {
        /// The follower's token.
        token: u64,
        /// The replies, or why there are none.
        result: Result<Vec<WireFrame>, ShardError>,
    },
}

/// Errors decoding a peer message: a bug or a foreign peer, never expected.
#[derive(Debug, thiserror::Error)]
#[error("peer message does not decode: {0}")]
pub struct WireError(String);

impl PeerMessage {
    /// Serializes the message.
    pub fn encode(&self) -> Vec<u8> {
        bincode::serialize(self).expect("serializing an in-memory peer message cannot fail")
    }

    /// Deserializes a message from a peer.
    pub fn decode(bytes: &[u8]) -> Result<PeerMessage, WireError> {
        bincode::deserialize(bytes).map_err(|e| WireError(e.to_string()))
    }

    /// Wraps raft-rs messages.
    pub fn raft(group: u64, messages: &[Message]) -> PeerMessage {
        PeerMessage::Raft {
            group,
            messages: messages
                .iter()
                .map(|m| {
                    Bytes::from(
                        m.write_to_bytes()
                            .expect("encoding an in-memory raft message cannot fail"),
                    )
                })
                .collect(),
        }
    }
}

/// Decodes one raft-rs message.
pub fn decode_raft(bytes: &[u8]) -> Result<Message, WireError> {
    Message::parse_from_bytes(bytes).map_err(|e| WireError(e.to_string()))
}

/// A reply frame in a form serde can carry (`Frame` itself stays free of serde).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum WireFrame {
    /// `Frame::Simple`.
    Simple(String),
    /// `Frame::Error`.
    Error(String),
    /// `Frame::Integer`.
    Integer(i64),
    /// `Frame::Bulk`.
    Bulk(Bytes),
    /// `Frame::Null`.
    Null,
    /// `Frame::NullArray`.
    NullArray,
    /// `Frame::Array`.
    Array(Vec<WireFrame>),
    /// `Frame::Double`.
    Double(f64),
    /// `Frame::Boolean`.
    Boolean(bool),
    /// `Frame::BigNumber`.
    BigNumber(String),
    /// `Frame::Verbatim`.
    Verbatim([u8; 3], Bytes),
    /// `Frame::Map`.
    Map(Vec<(WireFrame, WireFrame)>),
    /// `Frame::Set`.
    Set(Vec<WireFrame>),
    /// `Frame::Push`.
    Push(Vec<WireFrame>),
}

impl From<&Frame> for WireFrame {
    fn from(frame: &Frame) -> WireFrame {
        let list = |items: &[Frame]| items.iter().map(WireFrame::from).collect();
        match frame {
            Frame::Simple(s) => WireFrame::Simple(s.clone()),
            Frame::Error(s) => WireFrame::Error(s.clone()),
            Frame::Integer(i) => WireFrame::Integer(*i),
            Frame::Bulk(b) => WireFrame::Bulk(b.clone()),
            Frame::Null => WireFrame::Null,
            Frame::NullArray => WireFrame::NullArray,
            Frame::Array(items) => WireFrame::Array(list(items)),
            Frame::Double(d) => WireFrame::Double(*d),
            Frame::Boolean(b) => WireFrame::Boolean(*b),
            Frame::BigNumber(s) => WireFrame::BigNumber(s.clone()),
            Frame::Verbatim { format, text } => WireFrame::Verbatim(*format, text.clone()),
            Frame::Map(pairs) => WireFrame::Map(
                pairs
                    .iter()
                    .map(|(k, v)| (WireFrame::from(k), WireFrame::from(v)))
                    .collect(),
            ),
            Frame::Set(items) => WireFrame::Set(list(items)),
            Frame::Push(items) => WireFrame::Push(list(items)),
        }
    }
}

impl WireFrame {
    /// Back to a `Frame`; `None` if the peer sent something absurdly large.
    pub fn into_frame(self) -> Option<Frame> {
        let list = |items: Vec<WireFrame>| -> Option<Vec<Frame>> {
            if items.len() > MAX_WIRE_FRAME_ITEMS {
                return None;
            }
            items.into_iter().map(WireFrame::into_frame).collect()
        };
        Some(match self {
            WireFrame::Simple(s) => Frame::Simple(s),
            WireFrame::Error(s) => Frame::Error(s),
            WireFrame::Integer(i) => Frame::Integer(i),
            WireFrame::Bulk(b) => Frame::Bulk(b),
            WireFrame::Null => Frame::Null,
            WireFrame::NullArray => Frame::NullArray,
            WireFrame::Array(items) => Frame::Array(list(items)?),
            WireFrame::Double(d) => Frame::Double(d),
            WireFrame::Boolean(b) => Frame::Boolean(b),
            WireFrame::BigNumber(s) => Frame::BigNumber(s),
            WireFrame::Verbatim(format, text) => Frame::Verbatim { format, text },
            WireFrame::Map(pairs) => Frame::Map(
                pairs
                    .into_iter()
                    .map(|(k, v)| Some((k.into_frame()?, v.into_frame()?)))
                    .collect::<Option<_>>()?,
            ),
            WireFrame::Set(items) => Frame::Set(list(items)?),
            WireFrame::Push(items) => Frame::Push(list(items)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_survive_the_wire() {
        let frames = vec![
            Frame::ok(),
            Frame::NullArray,
            Frame::Array(vec![Frame::Integer(1), Frame::Null, Frame::bulk("x")]),
            Frame::Map(vec![(Frame::bulk("k"), Frame::Double(1.5))]),
        ];
        let msg = PeerMessage::ForwardReply {
            token: 9,
            result: Ok(frames.iter().map(WireFrame::from).collect()),
        };
        let PeerMessage::ForwardReply { token, result } =
            PeerMessage::decode(&msg.encode()).expect("decode")
        else {
            panic!("wrong variant");
        };
        assert_eq!(token, 9);
        let back: Vec<Frame> = result
            .expect("ok")
            .into_iter()
            .map(|w| w.into_frame().expect("frame"))
            .collect();
        assert_eq!(back, frames);
        assert!(PeerMessage::decode(&[0xff, 0xff]).is_err());
    }

    #[test]
    fn a_snapshot_piece_encodes_as_the_variants_fields_did() {
        let piece = SnapshotPiece {
            transfer: (40, 3),
            header: Bytes::from_static(b"head"),
            offset: 1 << 20,
            total: 5 << 20,
            data: Bytes::from_static(b"piece"),
        };
        let msg = PeerMessage::SnapshotChunk {
            group: 1,
            piece: piece.clone(),
        };
        // Variant 2, then the fields in their old order: group, transfer, header, offset,
        // total, data.
        let flat = bincode::serialize(&(
            2u32,
            1u64,
            piece.transfer,
            &piece.header,
            piece.offset,
            piece.total,
            &piece.data,
        ))
        .expect("flat");
        assert_eq!(msg.encode(), flat);
        match PeerMessage::decode(&flat).expect("decode") {
            PeerMessage::SnapshotChunk {
                group: 1,
                piece: back,
            } => assert_eq!(back, piece),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn bytes_fields_encode_as_byte_vectors_did() {
        // Nodes of the previous release sent these fields as `Vec<u8>`; the encoding must not
        // change under them.
        let raw = vec![7u8, 0, 255];
        assert_eq!(
            bincode::serialize(&raw).expect("vec"),
            bincode::serialize(&Bytes::from(raw.clone())).expect("bytes")
        );
    }
}
