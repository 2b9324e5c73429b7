using CpsLedger.Api.Platform;
using Marten;
using Marten.Schema;
using Npgsql;

namespace CpsLedger.Api.Audit;

/// <summary>
/// The columns Marten copies out of a document on every write (its duplicated fields: for an invoice, what finance's list filters,
/// orders and sums by, <see cref="Invoicing.InvoiceList.AddInvoiceListColumns"/>, and its account and number) against the document
/// they were copied from. The list reads the columns, never the JSON, so a column edited in SQL or left stale by a backfill skews
/// finance's totals while the document and the replay of its events agree. The columns are Marten's mapping's, each compared with
/// the expression Marten fills it from (the one a migration's backfill runs, <c>DuplicatedField.UpdateSqlFragment</c>): no list of
/// columns is kept beside <see cref="Invoicing.InvoiceList.AddInvoiceListColumns"/>. One statement: PostgreSQL reads each row once
/// and sends back only the columns that differ (100,000 copies of one invoice in the tests' cluster on a busy 2-core machine,
/// 2026-12-07: 4.1–4.8 s with the JSON decompressed for each column's expression, 0.75–1.04 s with it decompressed once a row).
/// </summary>
public static class DuplicatedColumns
{
    /// <summary>What a difference's <see cref="ProjectionDifference.Field"/> starts with, followed by the column's name.</summary>
    public const string FieldPrefix = "(column) ";

    /// <summary>A duplicated column and the SQL expression that reads its value from the document's JSON (<c>data</c>).</summary>
    public sealed record Column(string Name, string FromDocument);

    /// <summary>The document type's duplicated columns, by name.</summary>
    public static IReadOnlyList<Column> Of(IDocumentStore store, Type documentType)
    {
        var mapping = (DocumentMapping)store.Options.FindOrResolveDocumentType(documentType);
        return mapping.DuplicatedFields.Select(field =>
        {
            // Marten writes it as `"column" = <expression>` (migrations 019 and 021 show it): the expression is what is kept.
            var fragment = field.UpdateSqlFragment();
            var prefix = $"\"{field.ColumnName}\" = ";
            if (!fragment.StartsWith(prefix, StringComparison.Ordinal))
                throw new InvalidOperationException($"Marten wrote the update of {documentType.Name}'s column {field.ColumnName} in a shape not expected here: {fragment}");
            return new Column(field.ColumnName, fragment[prefix.Length..]);
        }).OrderBy(c => c.Name, StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// Every duplicated column of the documents (of the ids given, or every one) whose value is not the document's: a difference
    /// each, <c>stored</c> the column's value and <c>replayed</c> the document's (the value the column copies), both as JSON.
    /// Values are compared as the column's type (10.0 equals 10.00). A document value that cannot be read as the column's type
    /// (its JSON edited) stops the comparison, not the report: one difference says the columns were not compared.
    /// </summary>
    public static async Task<IReadOnlyList<ProjectionDifference>> CompareAsync(IDocumentStore store, Type documentType,
        IReadOnlyCollection<Guid>? ids, CancellationToken ct)
    {
        var columns = Of(store, documentType);
        var differences = new List<ProjectionDifference>();
        if (columns.Count == 0 || ids is { Count: 0 })
            return differences;

        var name = documentType.Name;
        await using var connection = (NpgsqlConnection)store.Storage.Database.CreateConnection();
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand(Sql(DocumentCopy.DocumentTable(store, documentType), columns, ids is not null), connection);
        if (ids is not null)
            command.Parameters.AddWithValue("ids", ids.ToArray());
        try
        {
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
                differences.Add(new ProjectionDifference(name, reader.GetGuid(0).ToString(), FieldPrefix + reader.GetString(1),
                    reader.IsDBNull(2) ? null : reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetString(3)));
        }
        catch (PostgresException e) when (e.SqlState.StartsWith("22", StringComparison.Ordinal))
        {
            // Class 22, data exception: a value in the JSON that is not a number or a date where the column holds one.
            differences.Add(new ProjectionDifference(name, "(columns)", FieldPrefix.TrimEnd(), $"not compared: {e.MessageText}", null));
        }

        return differences;
    }

    /// <summary>
    /// The statement: the rows where any column differs (the condition PostgreSQL tests as it reads each row), then one row per
    /// column that does, by id and column.
    /// </summary>
    public static string Sql(string table, IReadOnlyList<Column> columns, bool someIds)
    {
        string Differs(Column c) => $"d.{c.Name} is distinct from {c.FromDocument}";
        var values = string.Join(", ", columns.Select(c =>
            $"('{c.Name}', to_jsonb(d.{c.Name})::text, to_jsonb({c.FromDocument})::text, {Differs(c)})"));
        // Each row's JSON read (decompressed) once, not once for each column's expression: an operator's result is kept in memory,
        // and the expressions read `data`, here the subquery's. OFFSET 0 keeps PostgreSQL from folding the subquery into the scan.
        var rows = $"(select id, {string.Join(", ", columns.Select(c => c.Name))}, data || '{{}}'::jsonb as data from {table}" +
                   $"{(someIds ? " where id = any(@ids)" : "")} offset 0)";
        return $"select d.id, c.name, c.stored, c.document from {rows} as d " +
               $"cross join lateral (values {values}) as c(name, stored, document, differs) " +
               $"where ({string.Join(" or ", columns.Select(Differs))}) and c.differs " +
               "order by d.id, c.name";
    }
}
