//! Length- and checksum-prefixed frames on a byte stream.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest frame accepted: bounds the memory one frame from a peer can make us allocate. The
/// largest frames are raft appends (bounded by raft-rs's `max_size_per_msg`, but one entry
/// may hold a large value) and 1 MiB snapshot pieces.
pub const MAX_FRAME_BYTES: u32 = 1 << 30;

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The connection failed or closed.
    #[error("peer I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The length is over [`MAX_FRAME_BYTES`].
    #[error("peer frame of {0} bytes is over the limit")]
    TooLarge(u32),
    /// The checksum does not match.
    #[error("peer frame checksum mismatch")]
    Checksum,
}

/// Writes one frame (buffered by the caller's writer).
pub async fn write<W: AsyncWrite + Unpin>(w: &mut W, payload: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|l| *l <= MAX_FRAME_BYTES)
        .ok_or_else(|| std::io::Error::other("peer message over the frame limit"))?;
    w.write_all(&len.to_le_bytes()).await?;
    w.write_all(&crc32c::crc32c(payload).to_le_bytes()).await?;
    w.write_all(payload).await
}

/// Reads one frame.
pub async fn read<R: AsyncRead + Unpin>(r: &mut R) -> Result<Vec<u8>, FrameError> {
    read_max(r, MAX_FRAME_BYTES).await
}

/// Reads one frame of at most `max_len` bytes (the handshake, read before the peer is known,
/// has a much smaller bound than [`MAX_FRAME_BYTES`]).
pub async fn read_max<R: AsyncRead + Unpin>(
    r: &mut R,
    max_len: u32,
) -> Result<Vec<u8>, FrameError> {
    let mut header = [0u8; 8];
    r.read_exact(&mut header).await?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if len > max_len.min(MAX_FRAME_BYTES) {
        return Err(FrameError::TooLarge(len));
    }
    let mut payload = vec![0u8; len as usize];
    r.read_exact(&mut payload).await?;
    if crc32c::crc32c(&payload) != crc {
        return Err(FrameError::Checksum);
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_damage_is_detected() {
        let mut buf = Vec::new();
        write(&mut buf, b"hello").await.expect("write");
        let mut reader = &buf[..];
        assert_eq!(read(&mut reader).await.expect("read"), b"hello");
        let mut damaged = buf.clone();
        damaged[9] ^= 1;
        let mut reader = &damaged[..];
        assert!(matches!(read(&mut reader).await, Err(FrameError::Checksum)));
        let mut huge = Vec::new();
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        huge.extend_from_slice(&[0; 4]);
        let mut reader = &huge[..];
        assert!(matches!(
            read(&mut reader).await,
            Err(FrameError::TooLarge(_))
        ));
    }
}
