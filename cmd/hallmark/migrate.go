package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"hallmark.dev/hallmark/server"
	"hallmark.dev/hallmark/store/postgres"
)

func newMigrateCmd(e *env) *cobra.Command {
	var database string
	c := &cobra.Command{
		Use:   "migrate --database URL",
		Short: "Create or upgrade the tables of a PostgreSQL state store",
		Long: `Bring a PostgreSQL database to the schema version this hallmark needs, creating its
tables the first time. Each version runs in its own transaction; running it again does
nothing. 'hallmark serve --database URL' refuses a database of another schema version.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runMigrate(c.Context(), e, database) },
	}
	c.Flags().StringVar(&database, "database", "", "PostgreSQL URL, postgres://USER:PASSWORD@HOST:PORT/DATABASE")
	return c
}

func runMigrate(ctx context.Context, e *env, database string) error {
	if database == "" {
		return &usageError{msg: "migrate needs the database", hint: "pass --database postgres://USER:PASSWORD@HOST:PORT/DATABASE"}
	}
	if err := server.CheckDatabaseURL(database); err != nil {
		return &usageError{msg: err.Error(), hint: "the embedded SQLite store needs no migration"}
	}
	from, to, err := postgres.Migrate(ctx, database)
	if err != nil {
		return withHint(err, "check the URL and that the database exists (createdb NAME)")
	}
	if from == to {
		fmt.Fprintf(e.stderr, "the database is at schema version %d: nothing to do\n", to)
		return nil
	}
	fmt.Fprintf(e.stderr, "migrated the database from schema version %d to %d\n", from, to)
	return nil
}
