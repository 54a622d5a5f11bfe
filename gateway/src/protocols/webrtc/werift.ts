/**
 * werift, loaded once for livegate, with one fix.
 *
 * werift 0.25 writes a wrong NTP time into its RTCP sender reports: `ntpTime()` turns the decimal
 * digits of the fractional second into the 32-bit fraction ("12.25" gives 25/2^32 s, not 0.25 s).
 * Receivers use the sender reports' NTP ↔ RTP pairs to line audio up with video, so lip sync drifts
 * by up to a second at random (measured here: ±600 ms between audio and video). The CommonJS build
 * looks `ntpTime` up on its utils module at each call, so livegate loads that build and replaces the
 * function with a correct one (RFC 3550 §4: seconds since 1900 and a binary fraction).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as Werift from 'werift';

const require = createRequire(import.meta.url);
const werift = require('werift') as typeof Werift;
const utils = require(join(dirname(require.resolve('werift')), 'utils.js')) as { ntpTime: () => bigint };

/** Milliseconds between 1900-01-01 (NTP era 0) and 1970-01-01. */
const NTP_EPOCH_OFFSET_MS = 2_208_988_800_000;

export function ntpTime(nowMs: number = performance.timeOrigin + performance.now()): bigint {
  const ms = nowMs + NTP_EPOCH_OFFSET_MS;
  const seconds = Math.floor(ms / 1000);
  const fraction = Math.floor(((ms - seconds * 1000) / 1000) * 2 ** 32);
  return (BigInt(seconds) << 32n) | BigInt(fraction);
}

utils.ntpTime = () => ntpTime();

/**
 * Makes the NTP half of `sender`'s reports come from `ntp()`, asked only when werift writes a report
 * (about once a second), not stamped per packet. werift pairs it with the RTP time of the last packet
 * sent (both read when the report goes out), so `ntp()` must answer for that same packet. werift's
 * own stamp (the wall time of its sending) is ignored. See MediaClockReports for why livegate states
 * its own.
 */
export function senderReportClock(sender: Werift.RTCRtpSender, ntp: () => bigint): void {
  Object.defineProperty(sender, 'ntpTimestamp', { configurable: true, enumerable: true, get: ntp, set: () => undefined });
}

export const MediaStreamTrack = werift.MediaStreamTrack;
export type MediaStreamTrack = Werift.MediaStreamTrack;
export const RTCPeerConnection = werift.RTCPeerConnection;
export type RTCPeerConnection = Werift.RTCPeerConnection;
export const RTCRtpCodecParameters = werift.RTCRtpCodecParameters;
export type RTCRtpCodecParameters = Werift.RTCRtpCodecParameters;
export const RtpHeader = werift.RtpHeader;
export type RtpHeader = Werift.RtpHeader;
export const RtpPacket = werift.RtpPacket;
/** What werift's DTLS transport drops quietly when an SRTCP packet does not unprotect (any other error it rethrows). */
export const SrtpAuthenticationError = werift.SrtpAuthenticationError;
export type RtpPacket = Werift.RtpPacket;
export const { useH264, useOPUS, useVP8, useSdesMid, useTransportWideCC, useTWCC } = werift;
export type { RtcpPacket, RTCRtpSender, RTCRtpTransceiver } from 'werift';
