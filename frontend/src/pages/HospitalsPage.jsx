import { useState } from "react";
import { Link } from "react-router-dom";
import { api, ApiError } from "../api.js";
import { Badge, Hash, NodeBadge, OneTimeToken, PageHeader } from "../components/Bits.jsx";
import { DataTable } from "../components/DataTable.jsx";
import { Field } from "../components/Form.jsx";
import { NodeTokenButtons } from "../components/NodeTokenButtons.jsx";
import { Async, Empty, FormError } from "../components/States.jsx";
import { useApi, useDocumentTitle, useInterval } from "../hooks.js";

export function HospitalsPage() {
  useDocumentTitle("Hospitals");
  const hospitals = useApi("/api/hospitals/");
  const [issued, setIssued] = useState(null); // {hospitalId, title, token}: shown once
  useInterval(hospitals.reload, 15000);

  const onToken = (hospital, title) => (token) =>
    setIssued((shown) => (token ? { hospitalId: hospital.id, title, token } : shown?.hospitalId === hospital.id ? null : shown));

  return (
    <>
      <PageHeader title="Hospitals" subtitle="Register hospitals and manage their nodes' tokens." />
      {issued && <OneTimeToken title={issued.title} token={issued.token} onDismiss={() => setIssued(null)} />}
      <div className="grid-2 grid-wide-left">
        <section className="card">
          <h2>Registered hospitals</h2>
          <Async
            result={hospitals}
            loadingLabel="Loading hospitals…"
            empty={<Empty title="No hospitals yet">Register the first hospital with the form; its node token is shown once.</Empty>}
          >
            {(list) => <HospitalTable hospitals={list} onToken={onToken} onChange={hospitals.reload} />}
          </Async>
        </section>
        <section className="card">
          <h2>Register a hospital</h2>
          <RegisterForm
            onRegistered={(answer) => {
              onToken(answer.hospital, `Node token for ${answer.hospital.name}`)(answer.node_token);
              hospitals.reload();
            }}
          />
        </section>
      </div>
    </>
  );
}

function HospitalTable({ hospitals, onToken, onChange }) {
  const columns = [
    {
      key: "hospital",
      header: "Hospital",
      cell: (hospital) => (
        <>
          <Link to={`/hospitals/${hospital.id}`}>{hospital.name}</Link>
          <div className="hint">{hospital.slug}</div>
        </>
      ),
    },
    { key: "node", header: "Node", cell: (hospital) => <NodeBadge hospital={hospital} /> },
    {
      key: "token",
      header: "Token",
      cell: (hospital) => (hospital.node_token_active ? <Badge tone="good">Active</Badge> : <Badge tone="bad">Revoked</Badge>),
    },
    {
      key: "address",
      header: "Chain address",
      cell: (hospital) => (hospital.chain_address ? <Hash value={hospital.chain_address} keep={6} /> : <span className="hint">not set</span>),
    },
    {
      key: "actions",
      header: "Actions",
      hideHeader: true,
      className: "cell-actions",
      cell: (hospital) => (
        <NodeTokenButtons hospital={hospital} canRevoke small onToken={onToken(hospital, `New node token for ${hospital.name}`)} onChange={onChange} />
      ),
    },
  ];
  return (
    <DataTable
      label="Registered hospitals"
      testId="hospital-table"
      columns={columns}
      rows={hospitals}
      rowKey={(hospital) => hospital.id}
      rowProps={(hospital) => ({ "data-hospital": hospital.slug })}
    />
  );
}

function RegisterForm({ onRegistered }) {
  const blank = { name: "", admin_username: "", admin_password: "" };
  const [values, setValues] = useState(blank);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const fieldErrors = error instanceof ApiError ? error.fieldMessages : {};
  const set = (name) => (event) => setValues({ ...values, [name]: event.target.value });

  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onRegistered(await api.post("/api/hospitals/", values));
      setValues(blank);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="form" onSubmit={submit} aria-label="Register a hospital">
      <Field label="Hospital name" error={fieldErrors.name}>
        <input name="name" value={values.name} onChange={set("name")} required maxLength={200} />
      </Field>
      <Field label="Admin username" error={fieldErrors.admin_username} hint="The hospital's administrator logs in with it.">
        <input name="admin_username" value={values.admin_username} onChange={set("admin_username")} required maxLength={150} autoComplete="off" />
      </Field>
      <Field label="Admin password" error={fieldErrors.admin_password} hint="At least 8 characters; give it to the admin safely.">
        <input name="admin_password" type="password" value={values.admin_password} onChange={set("admin_password")} required minLength={8} autoComplete="new-password" />
      </Field>
      <FormError error={error} shownFields={["name", "admin_username", "admin_password"]} />
      <button type="submit" className="button primary" disabled={busy}>
        {busy ? "Registering…" : "Register hospital"}
      </button>
    </form>
  );
}
