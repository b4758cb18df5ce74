/**
 * Runs async operations one at a time, in call order. A backend's operations change shared
 * kernel state (a veth's clsact, the nft set, the pin folder); the node agent may call them from
 * concurrent events (CNI ADD while a namespace label changes), so each backend serialises them.
 * A failed operation does not stop the ones queued after it.
 */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(op: () => Promise<T>): Promise<T> {
    const result = this.tail.then(op, op);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
