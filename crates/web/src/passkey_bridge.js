// The SPA's bridge to WebAuthn (navigator.credentials): webauthn-rs's JSON options in, the
// authenticator's answer out as JSON in webauthn-rs's shape. Binary fields travel as
// base64url on the wire and as ArrayBuffers in the browser API; this file converts between
// them, nothing else.

function fromB64url(text) {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const raw = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i += 1) bytes[i] = raw.charCodeAt(i);
  return bytes.buffer;
}

function toB64url(buffer) {
  if (!buffer) return undefined;
  const bytes = new Uint8Array(buffer);
  let raw = '';
  for (let i = 0; i < bytes.length; i += 1) raw += String.fromCharCode(bytes[i]);
  return btoa(raw).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// A null member is not the same as an absent one to WebIDL: drop them.
function dropNulls(value) {
  if (Array.isArray(value)) return value.map(dropNulls);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null).map(([k, v]) => [k, dropNulls(v)]));
  }
  return value;
}

const withIds = (list) => (list ?? []).map((c) => ({ ...c, id: fromB64url(c.id) }));

/** Whether this browser can use passkeys at all. */
export function passkeysSupported() {
  return typeof window.PublicKeyCredential !== 'undefined' && !!navigator.credentials;
}

/** Enrolment: webauthn-rs's CreationChallengeResponse (JSON) → RegisterPublicKeyCredential. */
export async function createPasskey(optionsJson) {
  const { publicKey } = dropNulls(JSON.parse(optionsJson));
  publicKey.challenge = fromB64url(publicKey.challenge);
  publicKey.user = { ...publicKey.user, id: fromB64url(publicKey.user.id) };
  publicKey.excludeCredentials = withIds(publicKey.excludeCredentials);
  const cred = await navigator.credentials.create({ publicKey });
  return JSON.stringify({
    id: cred.id,
    rawId: toB64url(cred.rawId),
    type: cred.type,
    response: {
      attestationObject: toB64url(cred.response.attestationObject),
      clientDataJSON: toB64url(cred.response.clientDataJSON),
      transports: cred.response.getTransports ? cred.response.getTransports() : undefined,
    },
    extensions: cred.getClientExtensionResults(),
  });
}

/** Sign-in or step-up: webauthn-rs's RequestChallengeResponse (JSON) → PublicKeyCredential. */
export async function getPasskey(optionsJson) {
  const { publicKey } = dropNulls(JSON.parse(optionsJson));
  publicKey.challenge = fromB64url(publicKey.challenge);
  publicKey.allowCredentials = withIds(publicKey.allowCredentials);
  const cred = await navigator.credentials.get({ publicKey });
  return JSON.stringify({
    id: cred.id,
    rawId: toB64url(cred.rawId),
    type: cred.type,
    response: {
      authenticatorData: toB64url(cred.response.authenticatorData),
      clientDataJSON: toB64url(cred.response.clientDataJSON),
      signature: toB64url(cred.response.signature),
      userHandle: toB64url(cred.response.userHandle),
    },
    extensions: cred.getClientExtensionResults(),
  });
}
