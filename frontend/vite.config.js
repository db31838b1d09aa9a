import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// Django serves dist/ at the site root (dhportal/frontend.py); `npm run dev` proxies the API and websocket
// to a portal on DH_PORTAL_URL (default http://127.0.0.1:8000).
const portal = process.env.DH_PORTAL_URL || "http://127.0.0.1:8000";

export default defineConfig({
  base: "/",
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false },
  server: {
    proxy: {
      "/api": portal,
      "/ws": { target: portal.replace(/^http/, "ws"), ws: true },
    },
  },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/test/setup.js"],
    include: ["src/**/*.test.{js,jsx}"],
  },
});
