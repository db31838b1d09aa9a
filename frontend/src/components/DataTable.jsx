/**
 * A table of `rows`, one column per entry of `columns` ({key, header, cell(row), hideHeader?}). In a narrow
 * box (a phone, a half-width card) each row becomes a card of "header: value" lines (styles.css: the cells
 * carry their header in data-label), so no column or button is cut off; between the two, the table scrolls
 * inside its own box, which is focusable and named so keyboard and screen reader users can scroll it too.
 */
export function DataTable({ label, columns, rows, rowKey, rowProps, testId }) {
  return (
    <div className="table-wrap" role="region" aria-label={label} tabIndex={0}>
      <table className="table" data-testid={testId}>
        <thead>
          <tr>
            {columns.map((column) => (
              <th key={column.key} scope="col">
                {column.hideHeader ? <span className="visually-hidden">{column.header}</span> : column.header}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={rowKey(row)} {...rowProps?.(row)}>
              {columns.map((column) => (
                <td key={column.key} data-label={column.hideHeader ? "" : column.header} className={column.className}>
                  {column.cell(row)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
