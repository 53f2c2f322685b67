/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
import { attach, type ReadHandle, type ReadToken } from "@x/flashmap";

interface Route {
  upstream: string;
  weight: number;
}

let routes: ReadHandle<string, Route> | undefined;

self.onmessage = (event: MessageEvent) => {
  if (routes === undefined) {
    // The first message: the token. Its type carries the map's types.
    routes = attach(event.data as ReadToken<string, Route>);
    self.postMessage("ready");
  } else if (event.data === "close") {
    routes.close();
    self.postMessage("closed");
  } else {
    using view = routes.guard(); // one snapshot for this request
    self.postMessage(view.get(event.data)?.upstream ?? "no route");
  }
};
