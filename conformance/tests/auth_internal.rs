//! `authMethod: internal` (the default) through every listener (RTSP, HLS, API, metrics,
//! playback): a user with the right password, clear or `sha256:`, is allowed every action its
//! permissions list; a wrong password, a user whose permissions name other paths and no other
//! action, a user fenced to other IPs, and no credentials at all are refused everywhere.

use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use vigia_conformance::access::{Door, Listeners, Presented};

#[test]
fn users_are_allowed_what_their_permissions_list_from_their_ips() {
    let hashed = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b"pw2"));
    let everything = "[{action: publish, path: pub}, {action: read, path: cam}, \
                      {action: playback, path: cam}, {action: api}, {action: metrics}]";
    let elsewhere = "[{action: publish, path: x}, {action: read, path: x}, \
                     {action: playback, path: x}]";
    let listeners = Listeners::fresh();
    let vigia = listeners.start(&format!(
        "authInternalUsers:
- {{user: good, pass: pw, permissions: {everything}}}
- {{user: hashed, pass: 'sha256:{hashed}', permissions: {everything}}}
- {{user: elsewhere, pass: pw, permissions: {elsewhere}}}
- {{user: fenced, pass: pw, ips: [10.0.0.0/8], permissions: {everything}}}
paths:
  cam:
    source: synthetic
  all_others:
"
    ));
    let each_door = |presented: Presented| Door::ALL.map(|door| (door, presented.clone()));
    let allowed = [
        each_door(Presented::basic("good", "pw")),
        each_door(Presented::basic("hashed", "pw2")),
    ];
    listeners.expect_all(&vigia, &allowed.concat(), 200);
    let refused = [
        each_door(Presented::basic("good", "wrong")),
        each_door(Presented::basic("elsewhere", "pw")),
        each_door(Presented::basic("fenced", "pw")),
        each_door(Presented::nothing()),
    ];
    listeners.expect_all(&vigia, &refused.concat(), 401);
}
