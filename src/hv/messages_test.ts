import assert from "node:assert/strict";
import {
  buildMessage,
  buildTimerMessage,
  HV_MESSAGE_FLAG_MESSAGE_PENDING,
  HV_MESSAGE_MAX_PAYLOAD_BYTE_COUNT,
  HV_MESSAGE_OFFSET_MESSAGE_FLAGS,
  HV_MESSAGE_SIZE,
  HV_TIMER_MESSAGE_PAYLOAD_SIZE,
  HvMessageTypeTimerExpired,
  messagePayload,
  messageTypeOf,
  parseMessageHeader,
  parseTimerMessagePayload,
  setTimerDeliveryTime,
} from "./messages.ts";

Deno.test("HV_MESSAGE layout (spec §5.4): type @0, PayloadSize @4, flags @5, OriginationId @8", () => {
  const payload = new Uint8Array([1, 2, 3, 4, 5]);
  const m = buildMessage(0x80010006, payload, 0x11223344, 0x55667788);
  assert.equal(m.length, HV_MESSAGE_SIZE);
  const dv = new DataView(m.buffer);
  assert.equal(dv.getUint32(0, true), 0x80010006);
  assert.equal(m[4], 5);
  assert.equal(m[5], 0);
  assert.equal(dv.getUint16(6, true), 0);
  assert.equal(dv.getUint32(8, true), 0x11223344);
  assert.equal(dv.getUint32(12, true), 0x55667788);
  assert.deepEqual([...m.subarray(16, 21)], [1, 2, 3, 4, 5]);
  assert.ok(m.subarray(21).every((b) => b === 0));

  m[HV_MESSAGE_OFFSET_MESSAGE_FLAGS] = HV_MESSAGE_FLAG_MESSAGE_PENDING;
  const h = parseMessageHeader(m);
  assert.equal(h.messageType, 0x80010006);
  assert.equal(h.payloadSize, 5);
  assert.equal(h.messagePending, true);
  assert.deepEqual(h.originationId, [0x11223344, 0x55667788]);
  assert.deepEqual([...messagePayload(m)], [1, 2, 3, 4, 5]);
  assert.equal(messageTypeOf(m), 0x80010006);
});

Deno.test("HV_MESSAGE (TLFS §11 SIM Page): HvMessageTypeNone and > 240-byte payloads are rejected", () => {
  assert.throws(() => buildMessage(0, new Uint8Array(0)), RangeError);
  assert.throws(
    () => buildMessage(1, new Uint8Array(HV_MESSAGE_MAX_PAYLOAD_BYTE_COUNT + 1)),
    RangeError,
  );
  const full = buildMessage(1, new Uint8Array(240).fill(0xaa));
  assert.equal(full[4], 240);
  assert.equal(full[255], 0xaa);
});

Deno.test("parseMessageHeader reads a slot at an offset inside a page", () => {
  const page = new Uint8Array(4096);
  page.set(buildMessage(0x1234, new Uint8Array([9])), 3 * 256);
  assert.equal(parseMessageHeader(page, 3 * 256).messageType, 0x1234);
  assert.deepEqual([...messagePayload(page, 3 * 256)], [9]);
  assert.equal(messageTypeOf(page, 2 * 256), 0);
});

Deno.test("HV_TIMER_MESSAGE_PAYLOAD (TLFS §12): TimerIndex, ExpirationTime, DeliveryTime", () => {
  const m = buildTimerMessage(3, 0x1_0000_0005, 123456789);
  const h = parseMessageHeader(m);
  assert.equal(h.messageType, HvMessageTypeTimerExpired);
  assert.equal(h.messageType, 0x80000010);
  assert.equal(h.payloadSize, HV_TIMER_MESSAGE_PAYLOAD_SIZE);
  assert.deepEqual(h.originationId, [0, 0]); // timer messages have no origination ID
  const dv = new DataView(m.buffer);
  assert.equal(dv.getUint32(16, true), 3);
  assert.equal(dv.getUint32(20, true), 0);
  assert.equal(dv.getUint32(24, true), 5);
  assert.equal(dv.getUint32(28, true), 1);
  assert.deepEqual(parseTimerMessagePayload(m), {
    timerIndex: 3,
    expirationTime: 0x1_0000_0005,
    deliveryTime: 123456789,
  });
  setTimerDeliveryTime(m, 2 ** 40 + 7);
  assert.equal(parseTimerMessagePayload(m).deliveryTime, 2 ** 40 + 7);
  assert.equal(parseTimerMessagePayload(m).expirationTime, 0x1_0000_0005);
});
