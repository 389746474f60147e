// A React page using @sellerhub/sdk's Web Components (not built in CI: copy it into a Vite or
// Next.js app that has react and @sellerhub/sdk installed). The elements are framework-free:
// React renders them as tags and hands the SDK objects over as properties through refs.
import { useEffect, useRef, useState } from "react";
import { CreditSDK, CrossAppAuthSDK, InsufficientCredits, PaymentSDK } from "@sellerhub/sdk";
import { defineSellerhubElements } from "@sellerhub/sdk/components";

defineSellerhubElements(); // once, before the first render

/** The SDK for one app, made in an effect so React Strict Mode's mount-unmount-mount gets a
 * fresh instance after dispose() (timers and the cross-tab channel) rather than a dead one. */
export function useSellerhub(config) {
  const [sdk, setSdk] = useState(null);
  const [signedIn, setSignedIn] = useState(false);
  useEffect(() => {
    const auth = new CrossAppAuthSDK(config);
    setSdk({ auth, credits: new CreditSDK(auth), payments: new PaymentSDK(auth) });
    setSignedIn(auth.isAuthenticated());
    const unsubscribe = auth.onAuthChange((event) => setSignedIn(event.authenticated));
    return () => {
      unsubscribe();
      auth.dispose();
    };
  }, [config.appId, config.domain]);
  return { sdk, signedIn };
}

const CONFIG = {
  appId: "ocr-web",
  domain: "https://hub.example.com",
  redirectUrl: "https://ocr.example.com/bought",
};

export default function App() {
  const { sdk, signedIn } = useSellerhub(CONFIG);
  const login = useRef(null);
  const shop = useRef(null);
  const [message, setMessage] = useState("");

  useEffect(() => {
    if (sdk && login.current) login.current.auth = sdk.auth;
  }, [sdk]);
  useEffect(() => {
    if (sdk && shop.current && signedIn) shop.current.credits = sdk.credits;
  }, [sdk, signedIn]);

  async function runOcr() {
    try {
      const transfer = await sdk.credits.consumeCredits(5, "ocr");
      setMessage(`Done: ${transfer.balance_after} credits left`);
    } catch (error) {
      setMessage(error instanceof InsufficientCredits ? `Only ${error.balance} credits: buy a package` : String(error));
    }
  }

  return (
    <main className="theme">
      <sellerhub-login ref={login} label="Sign in with sellerhub" />
      {signedIn && (
        <>
          <button onClick={runOcr}>Run OCR (5 credits)</button>
          <p>{message}</p>
          <sellerhub-credit-purchase ref={shop} open="popup" />
        </>
      )}
    </main>
  );
}
// theme.css:  .theme { --sellerhub-accent: #6d28d9; --sellerhub-radius: 999px; }
