/**
 * The device console: a static single page (Preact) served from the worker's
 * assets at /console/. It holds no secrets of its own and uses only the public
 * API, exactly as any app would.
 */
import { render } from "preact";
import { useState } from "preact/hooks";
import { Layout } from "./components/Layout";
import { Device } from "./pages/Device";
import { Devices } from "./pages/Devices";
import { HomeDetail, Homes } from "./pages/Homes";
import { NewRollout } from "./pages/NewRollout";
import { Project } from "./pages/Project";
import { RolloutDetail, Rollouts } from "./pages/Rollouts";
import { SignIn } from "./pages/SignIn";
import { startLive, stopLive } from "./live";
import { useRoute } from "./router";
import { loadSession, signOut, type Session } from "./session";

function App() {
  const [session, setSession] = useState<Session | null>(() => {
    const s = loadSession();
    if (s) startLive(s, () => void end(s));
    return s;
  });
  const route = useRoute();

  async function end(s: Session) {
    stopLive();
    await signOut(s);
    setSession(null);
  }

  /** Signed in anew from inside the console (e.g. with a project's first key): the live connection follows. */
  function switchTo(s: Session) {
    stopLive();
    startLive(s, () => void end(s));
    setSession(s);
    location.hash = "#/project";
  }

  if (!session) {
    return (
      <SignIn
        onSignedIn={(s) => {
          startLive(s, () => void end(s));
          setSession(s);
          if (!location.hash) location.hash = "#/devices";
        }}
      />
    );
  }

  const [page = "devices", id] = route.path;
  let content;
  if (page === "devices" && id) content = <Device key={id} session={session} id={Number(id)} />;
  else if (page === "homes" && id) content = <HomeDetail key={id} session={session} id={Number(id)} />;
  else if (page === "homes") content = <Homes session={session} />;
  else if (page === "project" && session.isAdmin) content = <Project key={session.key} session={session} onSignIn={switchTo} />;
  else if (page === "rollouts" && session.isAdmin && id === "new") content = <NewRollout session={session} />;
  else if (page === "rollouts" && session.isAdmin && id) content = <RolloutDetail key={id} session={session} id={Number(id)} route={route} />;
  else if (page === "rollouts" && session.isAdmin) content = <Rollouts session={session} route={route} />;
  else content = <Devices session={session} route={route} />;

  return (
    <Layout session={session} page={page} onSignOut={() => void end(session)}>
      {content}
    </Layout>
  );
}

render(<App />, document.getElementById("app")!);
