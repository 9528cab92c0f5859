import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyStatus, isCredentialError, isThrottle, STATUS } from '../../src/smpp/command-status.js';
import { smppLib } from '../../src/smpp/smpp-lib.js';

describe('command_status table', () => {
  it('classifies the codes that decide retry or fail', () => {
    const expect: [number, string, string][] = [
      [0x00, 'ESME_ROK', 'ok'],
      [0x58, 'ESME_RTHROTTLED', 'transient'],
      [0x14, 'ESME_RMSGQFUL', 'transient'],
      [0x08, 'ESME_RSYSERR', 'transient'],
      [0x0b, 'ESME_RINVDSTADR', 'permanent'],
      [0x0a, 'ESME_RINVSRCADR', 'permanent'],
      [0x01, 'ESME_RINVMSGLEN', 'permanent'],
      [0x104, 'ESME_RINVDCS', 'permanent'],
      [0x64, 'ESME_RX_T_APPN', 'transient'],
      [0x65, 'ESME_RX_P_APPN', 'permanent'],
    ];
    for (const [code, name, kind] of expect) {
      const s = classifyStatus(code);
      assert.equal(s.name, name);
      assert.equal(s.kind, kind, name);
      assert.ok(s.description.length > 3);
    }
  });
  it('knows every error the smpp package knows, under the same code', () => {
    for (const [name, code] of Object.entries(smppLib.errors)) {
      const s = classifyStatus(code);
      assert.ok(!s.name.startsWith('ESME_UNKNOWN') && !s.name.startsWith('ESME_VENDOR'), `${name} 0x${code.toString(16)} missing`);
    }
  });
  it('treats vendor and reserved codes as transient and names them with the raw code', () => {
    assert.deepEqual(
      { name: classifyStatus(0x401).name, kind: classifyStatus(0x401).kind },
      { name: 'ESME_VENDOR_0x0401', kind: 'transient' },
    );
    assert.equal(classifyStatus(0x09).name, 'ESME_UNKNOWN_0x0009');
    assert.equal(classifyStatus(0x09).kind, 'transient');
  });
  it('names throttling and credential codes', () => {
    assert.ok(isThrottle(STATUS.ESME_RTHROTTLED) && isThrottle(STATUS.ESME_RMSGQFUL) && !isThrottle(STATUS.ESME_RSYSERR));
    assert.ok(isCredentialError(STATUS.ESME_RINVPASWD) && isCredentialError(STATUS.ESME_RINVSYSID) && isCredentialError(STATUS.ESME_RBINDFAIL));
    assert.ok(!isCredentialError(STATUS.ESME_RALYBND));
  });
});
