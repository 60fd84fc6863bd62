// The secure element makes its keys inside, offers only what the port allows (identity, signing,
// opening envelopes, the trust anchors and counters), and never lets a counter go down.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { verify } from '../../src/core/crypto/index.ts';
import { SECURE_ELEMENT_SECTORS } from '../../src/device/bootloader/layout.ts';
import { PowerCut, SimulatedFlash } from '../../src/device/flash/simulated-flash.ts';
import { SimulatedSecureElement } from '../../src/device/secure-element/simulated-secure-element.ts';
import { trust } from './support.ts';

const SECTOR = 4096;
const REGION = { offset: SECTOR, size: SECURE_ELEMENT_SECTORS * SECTOR };

function newFlash(): SimulatedFlash {
  return new SimulatedFlash({
    size: (SECURE_ELEMENT_SECTORS + 2) * SECTOR,
    sectorSize: SECTOR,
    writeSize: 8,
  });
}

function provision(flash = newFlash()): { flash: SimulatedFlash; element: SimulatedSecureElement } {
  return { flash, element: SimulatedSecureElement.provision(flash, REGION, trust.root) };
}

function counters(element: SimulatedSecureElement): [number, number] {
  const { securityCounter, delegationVersion } = element.trust();
  return [securityCounter, delegationVersion];
}

describe('the secure element', () => {
  test('makes its keys inside: two devices have different identities', () => {
    const a = provision().element.identity();
    const b = provision().element.identity();
    assert.notDeepEqual(a.sign, b.sign);
    assert.notDeepEqual(a.box, b.box);
    assert.notDeepEqual(a.sign, a.box, 'signing and box keys are separate pairs');
    assert.equal(a.sign.length, 32);
    assert.equal(a.box.length, 32);
  });

  test('offers only identity, sign, openEnvelope, openCredential, trust, advance and record tags: nothing returns a private key', () => {
    const { element } = provision();
    assert.deepEqual(Object.keys(element), [], 'no own enumerable properties');
    const methods = Object.getOwnPropertyNames(Object.getPrototypeOf(element)).filter(
      (name) => name !== 'constructor',
    );
    assert.deepEqual(methods.sort(), [
      'advance',
      'checkRecord',
      'identity',
      'openCredential',
      'openEnvelope',
      'sign',
      'tagRecord',
      'trust',
    ]);
    assert.deepEqual(Object.keys(element.identity()).sort(), ['box', 'sign']);
    assert.deepEqual(Object.keys(element.trust()).sort(), [
      'delegationVersion',
      'root',
      'rootVersion',
      'securityCounter',
    ]);
  });

  test('signs messages that verify with its identity, and only those', () => {
    const { element } = provision();
    const message = new TextEncoder().encode('status: running 7.28.0');
    const signature = element.sign(message);
    assert.ok(verify(element.identity().sign, message, signature));
    assert.ok(
      !verify(element.identity().sign, new TextEncoder().encode('status: running 7.27.0'), signature),
    );
    assert.ok(!verify(provision().element.identity().sign, message, signature), 'another device');
  });

  test('pins the root keys it was provisioned with, counters starting at zero', () => {
    const { element } = provision();
    const state = element.trust();
    assert.deepEqual(state.root, trust.root);
    assert.equal(state.rootVersion, 1);
    assert.deepEqual(counters(element), [0, 0]);
  });

  test('pins a newer root only: an older or equal one changes nothing, and it survives reopening', () => {
    const { flash, element } = provision();
    const next = { version: 2, threshold: 1, keys: [trust.approvers[0]?.publicKey as Uint8Array] };
    element.advance(1, 1, next);
    assert.equal(element.trust().rootVersion, 2);
    assert.deepEqual(element.trust().root, { keys: next.keys, threshold: 1 });
    element.advance(1, 1, { ...trust.root, version: 1 });
    element.advance(1, 1, { ...next, version: 2, threshold: 1, keys: trust.root.keys });
    assert.deepEqual(SimulatedSecureElement.open(flash, REGION).trust().root, {
      keys: next.keys,
      threshold: 1,
    });
  });

  test('a power cut while a new root is pinned leaves the old root or the new one, never neither', () => {
    const next = { version: 2, threshold: 1, keys: [trust.approvers[1]?.publicKey as Uint8Array] };
    for (let after = 0; after < 4; after++) {
      for (const tear of [false, true]) {
        const { flash, element } = provision();
        flash.cutPower({ after, tear, random: () => 0.5 });
        try {
          element.advance(1, 1, next);
        } catch (error) {
          assert.ok(error instanceof PowerCut);
        }
        flash.powerOn();
        const { rootVersion, root } = SimulatedSecureElement.open(flash, REGION).trust();
        assert.deepEqual(
          root,
          rootVersion === 1 ? trust.root : { keys: next.keys, threshold: 1 },
          `cut after ${after}`,
        );
      }
    }
  });

  test('advance never lowers a counter, each counter on its own', () => {
    const { flash, element } = provision();
    element.advance(5, 2);
    element.advance(3, 1);
    assert.deepEqual(counters(element), [5, 2]);
    element.advance(4, 7);
    assert.deepEqual(counters(element), [5, 7]);
    const operations = flash.operations;
    element.advance(5, 7);
    element.advance(0, 0);
    assert.equal(flash.operations, operations, 'an advance that changes nothing writes nothing');
  });

  test('keys, root and counters survive reopening on the same flash', () => {
    const { flash, element } = provision();
    element.advance(9, 3);
    const reopened = SimulatedSecureElement.open(flash, REGION);
    assert.deepEqual(reopened.identity(), element.identity());
    assert.deepEqual(reopened.trust(), element.trust());
    assert.deepEqual(counters(reopened), [9, 3]);
    const message = Uint8Array.of(1, 2, 3);
    assert.ok(verify(element.identity().sign, message, reopened.sign(message)));
  });

  test('counters keep going up over many advances (the counter log compacts)', () => {
    const { flash, element } = provision();
    for (let v = 1; v <= 200; v++) element.advance(v, Math.floor(v / 10));
    assert.deepEqual(counters(SimulatedSecureElement.open(flash, REGION)), [200, 20]);
  });

  test('a torn counter write leaves the previous value, and the next advance works', () => {
    // The torn write programs `done` whole words and part of the next; done = 0 leaves only the
    // record's first word, which cannot pass its checksum.
    const { flash, element } = provision();
    element.advance(1, 1);
    flash.cutPower({ after: 1, tear: true, random: () => 0.1 });
    assert.throws(() => element.advance(2, 1), PowerCut);
    flash.powerOn();
    const reopened = SimulatedSecureElement.open(flash, REGION);
    assert.deepEqual(counters(reopened), [1, 1]);
    reopened.advance(2, 1);
    assert.deepEqual(counters(SimulatedSecureElement.open(flash, REGION)), [2, 1]);
  });

  test('a counter write torn at any word reads as the old or the new value, never another', () => {
    const words = 64 / 8;
    for (let done = 0; done < words; done++) {
      const { flash, element } = provision();
      element.advance(1, 1);
      flash.cutPower({ after: 1, tear: true, random: () => (done + 0.5) / words });
      assert.throws(() => element.advance(2, 2), PowerCut);
      flash.powerOn();
      const value = counters(SimulatedSecureElement.open(flash, REGION));
      assert.ok(
        (value[0] === 1 && value[1] === 1) || (value[0] === 2 && value[1] === 2),
        `torn after ${done} words: ${value}`,
      );
    }
  });
});
