// What the pages show to whom (GET v1/me): "Add files" to those who may write, "Admin" to administrators.
// The server checks every request itself; this only spares people buttons that would be refused.

// ``me``: GET v1/me's answer, or null (not known: no key yet, or the server did not say);
// ``collection``: the one chosen in the picker ("" = none chosen).
export function mayWrite(me, authRequired, collection = "") {
  if (!me) return !authRequired; // an open server lets anyone add files
  if (!(me.may_write ?? me.can_write)) return false;
  const writes = me.write_collections;
  return writes == null || !collection || writes.includes(collection);
}

export function isAdmin(me) {
  return me?.role === "admin";
}
