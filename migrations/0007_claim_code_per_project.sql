-- Claim codes are unique within a project, not across projects: a PATCH that
-- met another project's code answered 409, telling one project which codes
-- another uses. Codes unique today stay unique under the narrower index.
DROP INDEX `devices_claim_code_digest`;--> statement-breakpoint
CREATE UNIQUE INDEX `devices_project_claim_code_digest` ON `devices` (`project_id`,`claim_code_digest`);