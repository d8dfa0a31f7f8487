// The IC fee schedule and cost formulas, against hand-computed values.
// Scaling is `fee * n / 13` rounded down (`scale_cost`); the 13- and 34-node per-unit values are
// also those of the IC's published cost table.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  APPLICATION_SUBNET_FEES,
  CyclesQuantityError,
  SUBNET_MEMORY_CAPACITY,
  SUBNET_MEMORY_THRESHOLD,
  SYSTEM_SUBNET_FEES,
  canisterBaseCost,
  canisterCreationCost,
  computeAllocationCost,
  executionCost,
  executionRefund,
  freezingThresholdCycles,
  httpRequestCost,
  idleCyclesBurnedPerDay,
  ingressInductionCost,
  memoryAllocationCost,
  prepaymentForExecution,
  prepaymentForResponseExecution,
  prepaymentForResponseTransmission,
  reservedCyclesForMemoryGrow,
  resourceCharges,
  responseTransmissionRefund,
  scaledFee,
  scheduleFor,
  signatureCost,
  storageCost,
  xnetCallCost,
  type ScaledFeeName,
} from '../src/cycles/index.js';

const GIB = 1n << 30n;
const SECOND = 1_000_000_000n; // nanoseconds
const HOUR = 3_600n * SECOND;
const DAY = 86_400n * SECOND;

const SIZES = [1, 13, 34] as const;
type PerSize = readonly [n1: bigint, n13: bigint, n34: bigint];

function forEachSize(name: string, expected: PerSize, actual: (n: number) => bigint): void {
  SIZES.forEach((n, i) => {
    test(`${name} on ${n} nodes`, () => assert.equal(actual(n), expected[i]));
  });
}

describe('per-unit fees scale as fee * n / 13, rounded down', () => {
  const table: readonly [ScaledFeeName, PerSize][] = [
    // 500e9 / 13 = 38_461_538_461.5…; 500e9 * 34 / 13 = 1_307_692_307_692.3…
    ['canisterCreationFee', [38_461_538_461n, 500_000_000_000n, 1_307_692_307_692n]],
    // 5e6 / 13 = 384_615.3…; 5e6 * 34 / 13 = 13_076_923.07…
    ['updateMessageExecutionFee', [384_615n, 5_000_000n, 13_076_923n]],
    // 10 / 13 = 0.76…; 340 / 13 = 26.15…
    ['tenUpdateInstructionsExecutionFee', [0n, 10n, 26n]],
    // 20 / 13 = 1.53…; 680 / 13 = 52.3…
    ['tenUpdateInstructionsExecutionFeeWasm64', [1n, 20n, 52n]],
    // 260_000 / 13 = 20_000 exactly; 20_000 * 34 = 680_000
    ['xnetCallFee', [20_000n, 260_000n, 680_000n]],
    // 1_000 / 13 = 76.9…; 34_000 / 13 = 2_615.3…
    ['xnetByteTransmissionFee', [76n, 1_000n, 2_615n]],
    // 1.2e6 / 13 = 92_307.6…; 40.8e6 / 13 = 3_138_461.5…
    ['ingressMessageReceptionFee', [92_307n, 1_200_000n, 3_138_461n]],
    // 2_000 / 13 = 153.8…; 68_000 / 13 = 5_230.7…
    ['ingressByteReceptionFee', [153n, 2_000n, 5_230n]],
    // 127_000 / 13 = 9_769.2…; 4_318_000 / 13 = 332_153.8…
    ['gibStoragePerSecondFee', [9_769n, 127_000n, 332_153n]],
    ['basePerSecondFee', [0n, 0n, 0n]],
    // 1e7 / 13 = 769_230.7…; 3.4e8 / 13 = 26_153_846.1…
    ['computePercentAllocatedPerSecondFee', [769_230n, 10_000_000n, 26_153_846n]],
    // 1e10 / 13 = 769_230_769.2…; 3.4e11 / 13 = 26_153_846_153.8…
    ['ecdsaSignatureFee', [769_230_769n, 10_000_000_000n, 26_153_846_153n]],
    ['schnorrSignatureFee', [769_230_769n, 10_000_000_000n, 26_153_846_153n]],
    ['vetkdFee', [769_230_769n, 10_000_000_000n, 26_153_846_153n]],
  ];
  for (const [fee, expected] of table) forEachSize(fee, expected, (n) => scaledFee(scheduleFor(n), fee));
});

describe('execution', () => {
  // (5_000_000 + 1_000_000 * 10 / 10) * n / 13: 6e6 / 13 = 461_538.4…; 6e6 * 34 / 13 = 15_692_307.6…
  forEachSize('1_000_000 instructions', [461_538n, 6_000_000n, 15_692_307n], (n) => executionCost(scheduleFor(n), 1_000_000));
  // (5_000_000 + 1_000_000 * 20 / 10) * n / 13: 7e6 / 13 = 538_461.5…; 7e6 * 34 / 13 = 18_307_692.3…
  forEachSize('1_000_000 Wasm64 instructions', [538_461n, 7_000_000n, 18_307_692n], (n) =>
    executionCost(scheduleFor(n), 1_000_000n, 'wasm64'),
  );
  // The prepayment of an update at the 40B limit: (5e6 + 40e9) * n / 13.
  forEachSize('prepayment for a 40B-instruction limit', [3_077_307_692n, 40_005_000_000n, 104_628_461_538n], (n) =>
    prepaymentForExecution(scheduleFor(n), 40_000_000_000n),
  );

  test('the whole charge is scaled, not each fee (IC rounding)', () => {
    // (5_000_000 + 8) * 34 / 13 = 170_000_272 / 13 = 13_076_944 exactly, whereas scaling the two
    // fees separately gives 13_076_923 + floor(272 / 13 = 20.9) = 13_076_943.
    assert.equal(executionCost(scheduleFor(34), 8), 13_076_944n);
  });

  test('fewer than 10 instructions round the instruction part down', () => {
    // 9 * 10 / 10 = 9 cycles at 1 cycle per instruction; 9 * 20 / 10 = 18 on Wasm64.
    assert.equal(executionCost(scheduleFor(13), 9), 5_000_009n);
    assert.equal(executionCost(scheduleFor(13), 9, 'wasm64'), 5_000_018n);
  });

  test('refund of unused instructions excludes the base fee and is capped by the prepayment', () => {
    const s13 = scheduleFor(13);
    const prepaid = prepaymentForExecution(s13, 40_000_000_000n);
    // Used 1_000_000 of 40B: refund (40e9 − 1e6) = 39_999_000_000; charged 5e6 + 1e6.
    assert.equal(executionRefund(s13, 40_000_000_000n - 1_000_000n, prepaid), 39_999_000_000n);
    assert.equal(prepaid - executionRefund(s13, 40_000_000_000n - 1_000_000n, prepaid), executionCost(s13, 1_000_000));
    assert.equal(executionRefund(s13, 1_000n, 7n), 7n);
    // 34 nodes: 999_999 * 34 / 13 = 2_615_382.2…
    assert.equal(executionRefund(scheduleFor(34), 999_999, 10n ** 12n), 2_615_382n);
  });
});

describe('messages', () => {
  // scaled(1_200_000) + scaled(2_000) * 1_000: 92_307 + 153_000; 1_200_000 + 2_000_000; 3_138_461 + 5_230_000
  forEachSize('ingress of 1_000 bytes', [245_307n, 3_200_000n, 8_368_461n], (n) => ingressInductionCost(scheduleFor(n), 1_000));

  // ic0.cost_call("echo", 10-byte argument) = scaled(260_000) + scale(1_000 * 14)
  //   + scale(1_000 * 2 MiB = 2_097_152_000) + scale(5_000_000 + 40e9).
  // 13 nodes: 260_000 + 14_000 + 2_097_152_000 + 40_005_000_000 = 42_102_426_000.
  // 1 node (each term / 13, rounded down): 20_000 + 1_076 + 161_319_384 + 3_077_307_692 = 3_238_648_152.
  // 34 nodes (each term * 34 / 13): 680_000 + 36_615 + 5_484_859_076 + 104_628_461_538 = 110_114_037_229.
  forEachSize('ic0.cost_call for method "echo" with 10 argument bytes', [3_238_648_152n, 42_102_426_000n, 110_114_037_229n], (n) =>
    xnetCallCost(scheduleFor(n), 4, 10),
  );

  test('cost_call parts: response transmission and execution reservations', () => {
    const s13 = scheduleFor(13);
    assert.equal(prepaymentForResponseTransmission(s13), 2_097_152_000n); // 1_000 * 2 * 1024 * 1024
    assert.equal(prepaymentForResponseExecution(s13), 40_005_000_000n);
    assert.equal(prepaymentForResponseExecution(s13, 'wasm64'), 80_005_000_000n); // 5e6 + 40e9 * 2
    // A 100-byte response gives back 2_097_152_000 − 100_000.
    assert.equal(responseTransmissionRefund(s13, 100, 2_097_152_000n), 2_097_052_000n);
    assert.equal(responseTransmissionRefund(s13, 3_000_000, 2_097_152_000n), 0n);
  });
});

describe('canisters and storage', () => {
  forEachSize('canister creation', [38_461_538_461n, 500_000_000_000n, 1_307_692_307_692n], (n) => canisterCreationCost(scheduleFor(n)));

  // 1 GiB for 1 day: 127_000 * 86_400 = 10_972_800_000 per 13 nodes;
  // / 13 = 844_061_538.4…; * 34 / 13 = 28_698_092_307.6…
  forEachSize('storage of 1 GiB for 1 day', [844_061_538n, 10_972_800_000n, 28_698_092_307n], (n) =>
    storageCost(scheduleFor(n), GIB, DAY),
  );

  test('storage takes whole seconds and rounds the unscaled amount down', () => {
    const s13 = scheduleFor(13);
    // 1.999 s counts as 1 s: 127_000 cycles for a GiB.
    assert.equal(storageCost(s13, GIB, 2n * SECOND - 1n), 127_000n);
    // 1 MiB for 1 s: 1_048_576 * 127_000 / 2^30 = 124.02…
    assert.equal(storageCost(s13, 1n << 20n, SECOND), 124n);
    assert.equal(storageCost(s13, GIB, 0), 0n);
  });

  // 10 % for 1 hour: 10_000_000 * 3_600 * 10 = 360_000_000_000 per 13 nodes;
  // / 13 = 27_692_307_692.3…; * 34 / 13 = 941_538_461_538.4…
  forEachSize('compute allocation of 10 % for 1 hour', [27_692_307_692n, 360_000_000_000n, 941_538_461_538n], (n) =>
    computeAllocationCost(scheduleFor(n), 10, HOUR),
  );

  test('memory allocation charges the larger of allocation and usage', () => {
    const s13 = scheduleFor(13);
    assert.equal(memoryAllocationCost(s13, { memoryAllocation: 2n * GIB, memoryUsage: GIB }, DAY), 21_945_600_000n);
    assert.equal(memoryAllocationCost(s13, { memoryAllocation: GIB, memoryUsage: 2n * GIB }, DAY), 21_945_600_000n);
    assert.equal(memoryAllocationCost(s13, { memoryUsage: GIB }, DAY), 10_972_800_000n);
  });

  test('the per-canister base fee applies only to canisters holding memory', () => {
    const withBase = scheduleFor(13, { basePerSecondFee: 10_000n });
    assert.equal(canisterBaseCost(withBase, 1, DAY), 864_000_000n); // 10_000 * 86_400
    assert.equal(canisterBaseCost(withBase, 0, DAY), 0n);
    assert.equal(canisterBaseCost(scheduleFor(13), 1, DAY), 0n);
  });
});

describe('storage reservation on memory grow', () => {
  const T = SUBNET_MEMORY_THRESHOLD; // 750 GiB
  const C = SUBNET_MEMORY_CAPACITY; // 2 TiB
  test('nothing below the threshold', () => {
    assert.equal(reservedCyclesForMemoryGrow(scheduleFor(13), GIB, { usage: 0n, threshold: T, capacity: C }), 0n);
    assert.equal(reservedCyclesForMemoryGrow(scheduleFor(13), GIB, { usage: T - GIB, threshold: T, capacity: C }), 0n);
  });
  test('1 GiB right above the threshold', () => {
    // Period 300_000_000 s * 1 GiB / 1_298 GiB = 231_124 s; half = 115_562 s;
    // 1 GiB * 127_000 * 115_562 = 14_676_374_000.
    assert.equal(reservedCyclesForMemoryGrow(scheduleFor(13), GIB, { usage: T, threshold: T, capacity: C }), 14_676_374_000n);
    // * 34 / 13 = 38_384_362_769.2…
    assert.equal(reservedCyclesForMemoryGrow(scheduleFor(34), GIB, { usage: T, threshold: T, capacity: C }), 38_384_362_769n);
  });
  test('1 GiB at 1 TiB usage: the difference of two triangles', () => {
    // After: 275 GiB above, period 300e6 * 275 / 1_298 = 63_559_322 s, half 31_779_661 s:
    //   275 * 127_000 * 31_779_661 = 1_109_904_660_425_000.
    // Before: 274 GiB above, period 63_328_197 s, half 31_664_098 s:
    //   274 * 127_000 * 31_664_098 = 1_101_847_282_204_000.
    assert.equal(
      reservedCyclesForMemoryGrow(scheduleFor(13), GIB, { usage: 1024n * GIB, threshold: T, capacity: C }),
      8_057_378_221_000n,
    );
  });
  test('usage is capped at the capacity', () => {
    assert.equal(reservedCyclesForMemoryGrow(scheduleFor(13), GIB, { usage: C, threshold: T, capacity: C }), 0n);
  });
});

describe('special features', () => {
  // (3_000_000 + 60_000 n) n: 3_060_000; 3_780_000 * 13 = 49_140_000; 5_040_000 * 34 = 171_360_000
  forEachSize('HTTP outcall base (0 request bytes, 0 response bytes)', [3_060_000n, 49_140_000n, 171_360_000n], (n) =>
    httpRequestCost(scheduleFor(n), 0, 0),
  );
  // (3_000_000 + 60_000 n + 400 * 1_000 + 800 * 2_000_000) n:
  // 1: 1_603_460_000; 13: 1_604_180_000 * 13 = 20_854_340_000; 34: 1_605_440_000 * 34 = 54_584_960_000
  forEachSize('HTTP outcall of 1_000 request bytes, default 2 MB response', [1_603_460_000n, 20_854_340_000n, 54_584_960_000n], (n) =>
    httpRequestCost(scheduleFor(n), 1_000),
  );
  test('HTTP outcall per-byte prices match the published 13-node table', () => {
    const s13 = scheduleFor(13);
    assert.equal(httpRequestCost(s13, 1, 0) - httpRequestCost(s13, 0, 0), 5_200n); // 400 * 13
    assert.equal(httpRequestCost(s13, 0, 1) - httpRequestCost(s13, 0, 0), 10_400n); // 800 * 13
  });

  forEachSize('threshold ECDSA signature', [769_230_769n, 10_000_000_000n, 26_153_846_153n], (n) =>
    signatureCost(scheduleFor(n), 'ecdsa'),
  );
  test('signatures are priced by the size of the subnet holding the key', () => {
    // A canister on a 13-node subnet signing with the production key of a 34-node subnet.
    assert.equal(signatureCost(scheduleFor(13), 'schnorr', 34), 26_153_846_153n);
    assert.equal(signatureCost(scheduleFor(34), 'vetkd', 13), 10_000_000_000n);
    assert.throws(() => signatureCost(scheduleFor(13), 'ecdsa', 0), CyclesQuantityError);
  });
});

describe('idle burn and freezing threshold', () => {
  test('idle cycles per day add memory, message memory and compute allocation', () => {
    const s13 = scheduleFor(13);
    // 1 GiB: 10_972_800_000; 1 GiB of messages: 10_972_800_000; 1 %: 10_000_000 * 86_400 = 864_000_000_000.
    assert.equal(idleCyclesBurnedPerDay(s13, { memoryUsage: GIB }), 10_972_800_000n);
    assert.equal(
      idleCyclesBurnedPerDay(s13, { memoryUsage: GIB, messageMemoryUsage: GIB, computeAllocation: 1 }),
      885_945_600_000n,
    );
  });

  // 1 GiB for the default 30 days: 10_972_800_000 * 2_592_000 / 86_400 = 329_184_000_000 per 13 nodes;
  // 844_061_538 * 30 = 25_321_846_140; 28_698_092_307 * 30 = 860_942_769_210 (scaled per day first).
  forEachSize('freezing threshold of 1 GiB at the default 30 days', [25_321_846_140n, 329_184_000_000n, 860_942_769_210n], (n) =>
    freezingThresholdCycles(scheduleFor(n), { memoryUsage: GIB }),
  );

  test('freezing threshold with compute allocation, a custom period and reserved cycles', () => {
    const s13 = scheduleFor(13);
    // (10_972_800_000 + 864_000_000_000) per day * 30 = 26_249_184_000_000; minus 1T reserved.
    assert.equal(
      freezingThresholdCycles(s13, { memoryUsage: GIB, computeAllocation: 1, reservedBalance: 1_000_000_000_000n }),
      25_249_184_000_000n,
    );
    // One hour: 10_972_800_000 * 3_600 / 86_400 = 457_200_000.
    assert.equal(freezingThresholdCycles(s13, { memoryUsage: GIB, freezingThresholdSeconds: 3_600 }), 457_200_000n);
    // Reserved cycles above the threshold leave none.
    assert.equal(freezingThresholdCycles(s13, { memoryUsage: GIB, reservedBalance: 10n ** 15n }), 0n);
    assert.equal(freezingThresholdCycles(s13, { memoryUsage: 0 }), 0n);
  });

  test('periodic resource charge: daily rate × whole seconds / 86_400', () => {
    // 10 s of 1 GiB on 13 nodes: 10_972_800_000 * 10 / 86_400 = 1_270_000.
    assert.deepEqual(resourceCharges(scheduleFor(13), { memoryUsage: GIB, computeAllocation: 2 }, 10n * SECOND), {
      memory: 1_270_000n,
      messageMemory: 0n,
      computeAllocation: 200_000_000n, // 10_000_000 * 2 % * 10 s
    });
  });
});

describe('schedules', () => {
  test('the application subnet reference values', () => {
    assert.equal(APPLICATION_SUBNET_FEES.canisterCreationFee, 500_000_000_000n);
    const s = scheduleFor(13);
    assert.equal(s.referenceSubnetSize, 13);
    assert.equal(s.defaultFreezingThresholdSeconds, 2_592_000n);
    assert.equal(s.maxInstructionsPerMessage, 40_000_000_000n);
    assert.equal(s.defaultReservedBalanceLimit, 5_000_000_000_000n);
  });

  test('overrides replace reference fees and are scaled like them', () => {
    const s = scheduleFor(26, { canisterCreationFee: 100_000_000_000n });
    assert.equal(canisterCreationCost(s), 200_000_000_000n);
    assert.equal(scheduleFor(26).canisterCreationFee, 500_000_000_000n, 'defaults untouched');
    // The same fees on another subnet: the size argument wins over the schedule's.
    assert.equal(canisterCreationCost(scheduleFor(13, s)), 100_000_000_000n);
  });

  test('system subnets charge only for signatures', () => {
    const s = scheduleFor(28, SYSTEM_SUBNET_FEES);
    assert.equal(executionCost(s, 1_000_000), 0n);
    assert.equal(xnetCallCost(s, 4, 10), 0n);
    assert.equal(storageCost(s, GIB, DAY), 0n);
    assert.equal(httpRequestCost(s, 1_000), 0n);
    assert.equal(signatureCost(s, 'ecdsa'), 21_538_461_538n); // 1e10 * 28 / 13
  });

  test('a free cost schedule charges nothing', () => {
    const s = scheduleFor(13, { costSchedule: 'free' });
    assert.equal(executionCost(s, 1_000_000), 0n);
    assert.equal(canisterCreationCost(s), 0n);
    assert.equal(httpRequestCost(s, 1_000), 0n);
    assert.equal(freezingThresholdCycles(s, { memoryUsage: GIB }), 0n);
  });

  test('bad quantities are rejected', () => {
    assert.throws(() => scheduleFor(0), CyclesQuantityError);
    assert.throws(() => scheduleFor(13, { referenceSubnetSize: 0 }), CyclesQuantityError);
    assert.throws(() => executionCost(scheduleFor(13), -1), CyclesQuantityError);
    assert.throws(() => storageCost(scheduleFor(13), 1.5, DAY), CyclesQuantityError);
    assert.throws(() => ingressInductionCost(scheduleFor(13), -1n), CyclesQuantityError);
  });

  test('schedules are frozen data', () => {
    assert.ok(Object.isFrozen(scheduleFor(13)));
    assert.ok(Object.isFrozen(APPLICATION_SUBNET_FEES));
  });
});
