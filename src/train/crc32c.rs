//! CRC-32C (Castagnoli), the checksum of TFRecord framing, and TensorBoard's masked form.
//!
//! Reflected polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF (RFC 3720 §B.4).
//! Byte-at-a-time with a table built at compile time: event records are a few dozen bytes,
//! so speed does not matter here.

/// The 256-entry lookup table for the reflected polynomial, built at compile time.
const TABLE: [u32; 256] = build_table();

const fn build_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

/// CRC-32C of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc = TABLE[((crc ^ b as u32) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

/// TensorFlow's masked CRC: rotate right by 15 bits and add a constant, so that a CRC stored
/// inside CRC-covered data does not weaken the check.
pub fn masked_crc32c(data: &[u8]) -> u32 {
    let crc = crc32c(data);
    crc.rotate_right(15).wrapping_add(0xA282_EAD8)
}
